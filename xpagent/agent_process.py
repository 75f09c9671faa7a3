"""Running `python -m xpagent run` as a child process: the one launcher of the demo,
the benches and the tests.

```
agent = await nursery.start(run_agent_process, env, ...)   spawned, answering
...                                                        the caller's work
nursery.cancel_scope.cancel()                              SIGTERM → grace → SIGKILL
```

`run_agent_process` spawns the agent in its own session (a terminal's Ctrl-C is for
the parent, which stops it), waits until its API answers `/api/health` as the node
of `XP_NODE_ID` on `XP_BIND` (or not at all, for a caller that follows its log),
hands back an `AgentProcess`, then waits for the process to exit. Cancelling the
task is how the agent is stopped, on every way out: SIGTERM, a bounded wait for the
clean exit (the agent writes its state file and exits 0), SIGKILL of its whole
process group for one that does not exit in time, and a bounded wait to reap it.

Exceptions: `AgentStartError` — the agent exited, or did not answer in time, while
starting; the message says which and ends with the end of its log when it has one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO

import attrs
import httpx
import trio

__all__ = [
    "HEALTH_PATH",
    "KILL_SECS",
    "START_SECS",
    "STOP_SECS",
    "AgentProcess",
    "AgentStartError",
    "agent_environment",
    "run_agent_process",
]

#: The route an agent answers as soon as it serves (CONTRACT §3).
HEALTH_PATH = "/api/health"
#: How long an agent may take to answer /api/health after it was spawned.
START_SECS = 30.0
#: How long an agent may take to exit after SIGTERM (the contract says 5 s).
STOP_SECS = 8.0
#: How long a SIGKILLed agent may take to be reaped.
KILL_SECS = 2.0
_HEALTH_POLL_SECS = 0.05
#: Variables that would send the agent's loopback requests to a proxy.
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


class AgentStartError(Exception):
    """The agent exited, or did not answer /api/health in time, while starting."""


def agent_environment(
    settings: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`base` (default: our environment) without any `XP_*` or proxy variable — so
    only the caller's settings reach the agent — plus `settings`."""
    env = {
        name: value
        for name, value in (os.environ if base is None else base).items()
        if not name.startswith("XP_") and name.lower() not in _PROXY_VARIABLES
    }
    env.update(settings)
    return env


@attrs.define
class AgentProcess:
    """A running `xpagent run`; `stopped_after` and `killed` tell, once it was
    stopped by cancellation, how long it took to exit after SIGTERM and whether it
    had to be killed."""

    process: trio.Process
    node_id: str
    #: The API's base URL (None when the agent binds port 0).
    url: str | None
    #: Where its stdout and stderr go (None: the caller chose the streams).
    log_path: Path | None
    stopped_after: float | None = None
    killed: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 8) -> str:
        """The last lines of the agent's log, for an error message."""
        if self.log_path is None:
            return "(no log)"
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _failure(self, what: str) -> AgentStartError:
        where = f" ({self.log_path})" if self.log_path is not None else ""
        return AgentStartError(
            f"the agent of {self.node_id} {what}; the end of its log{where}:\n{self.log_tail()}"
        )


def _api_url(env: Mapping[str, str]) -> str | None:
    bind = env.get("XP_BIND", "")
    host, _, port = bind.rpartition(":")
    if not host or port in ("", "0"):
        return None
    return f"http://{bind}"


async def _wait_healthy(agent: AgentProcess, client: httpx.AsyncClient, start_secs: float) -> None:
    """Return once the agent answers /api/health as its node; AgentStartError if it
    exits or does not answer within `start_secs`."""
    if agent.url is None:
        raise ValueError("waiting for /api/health needs XP_BIND with a port that is not 0")
    url = agent.url + HEALTH_PATH
    with trio.move_on_after(start_secs):
        while agent.process.returncode is None:
            try:
                response = await client.get(url)
                if response.status_code == 200 and response.json().get("node_id") == (
                    agent.node_id
                ):
                    return
            except (httpx.HTTPError, ValueError):
                pass  # not listening yet
            await trio.sleep(_HEALTH_POLL_SECS)
        raise agent._failure(f"exited with status {agent.process.returncode} while starting")
    raise agent._failure(f"did not answer {url} within {start_secs:g} s")


def _kill_group(process: trio.Process) -> None:
    with suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, signal.SIGKILL)


async def _stop(agent: AgentProcess, grace_secs: float) -> None:
    """SIGTERM, `grace_secs` for the clean exit, SIGKILL of the group for a straggler.
    Bounded: at most `grace_secs + KILL_SECS`."""
    process = agent.process
    if process.returncode is None:
        started = trio.current_time()
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(grace_secs):
            await process.wait()
            agent.stopped_after = trio.current_time() - started
    if process.returncode is None:
        agent.killed = True
        _kill_group(process)
        with trio.move_on_after(KILL_SECS):
            await process.wait()


async def run_agent_process(
    env: Mapping[str, str],
    *,
    health_client: httpx.AsyncClient | None = None,
    log_path: Path | None = None,
    stderr: int | IO[bytes] | None = None,
    args: Sequence[str] = (),
    start_secs: float = START_SECS,
    grace_secs: float = STOP_SECS,
    task_status: trio.TaskStatus[AgentProcess] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `python -m xpagent run ARGS` with exactly `env` until it exits or this task
    is cancelled (then stop it, see the module's docstring).

    With `health_client`, `task_status.started` comes once the agent answers
    /api/health as `XP_NODE_ID`; without, as soon as the process is spawned. Its
    stdout and stderr are appended to `log_path` when given; otherwise stdout goes
    nowhere and stderr to `stderr` (e.g. `subprocess.PIPE`; the caller reads and
    closes it). Raises AgentStartError when it does not come up.
    """
    argv = [sys.executable, "-m", "xpagent", "run", *args]
    log = log_path.open("ab") if log_path is not None else None
    try:
        process = await trio.lowlevel.open_process(
            argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if log is None else log,
            stderr=stderr if log is None else subprocess.STDOUT,
            # Its own session: a terminal's Ctrl-C is for the parent, which stops it.
            start_new_session=True,
        )
    finally:
        if log is not None:
            log.close()  # the child holds its own copy
    agent = AgentProcess(process, env.get("XP_NODE_ID", "?"), _api_url(env), log_path)
    try:
        if health_client is not None:
            await _wait_healthy(agent, health_client, start_secs)
        task_status.started(agent)
        await process.wait()
    finally:
        # Whatever happened (cancellation, a failed start): the agent does not outlive us.
        with trio.CancelScope(shield=True):
            await _stop(agent, grace_secs)
