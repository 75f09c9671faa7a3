"""The three real agents: `python -m xpagent run` processes configured for the demo.

Each agent gets its settings as `XP_*` variables (the demo's, never the user's),
writes its log to `DIR/<node>/agent.log` and runs in its own session, so that a
Ctrl-C in the terminal reaches only the demo, which then stops the agents itself:
SIGTERM, a bounded wait for the clean exit (the agent writes its state file and
exits 0), and SIGKILL for one that does not exit in time. That happens on every
way out of `open_agents`, so no agent outlives the demo.

The settings make things visible within minutes: probes every 2 s, down after 3
failures, a restart cooldown of 10 s and a backoff capped at 60 s.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress

import attrs
import httpx
import trio

from ._narrator import Narrator
from ._workdir import DemoNode, Workdir

__all__ = [
    "AGENT_SETTINGS",
    "AgentProcess",
    "DemoError",
    "agent_env",
    "open_agents",
    "wait_until_one_exits",
]

#: The supervision settings every demo agent runs with.
AGENT_SETTINGS = {
    "XP_XRAY_HEALTH_INTERVAL_SECS": "2",
    "XP_XRAY_HEALTH_FAILS_BEFORE_DOWN": "3",
    "XP_XRAY_RESTART_MODE": "command",
    "XP_XRAY_RESTART_COOLDOWN_SECS": "10",
    "XP_XRAY_RESTART_BACKOFF_MAX_SECS": "60",
    "XP_XRAY_RESTART_TIMEOUT_SECS": "10",
    "XP_CLOUDFLARED_HEALTH_INTERVAL_SECS": "2",
    "XP_CLOUDFLARED_HEALTH_FAILS_BEFORE_DOWN": "3",
    "XP_CLOUDFLARED_RESTART_COOLDOWN_SECS": "10",
    "XP_CLOUDFLARED_RESTART_BACKOFF_MAX_SECS": "60",
    "XP_CLOUDFLARED_RESTART_TIMEOUT_SECS": "10",
    "XP_RUNTIME_FANOUT_TIMEOUT_SECS": "3",
    "XP_LOG_LEVEL": "info",
}
#: How long an agent may take to answer /api/health after it was started.
START_SECS = 30.0
#: How long an agent may take to exit after SIGTERM (the contract says 5 s).
STOP_SECS = 8.0
#: How long a SIGKILLed agent may take to be reaped.
KILL_SECS = 2.0
_HEALTH_POLL_SECS = 0.1
#: Variables that would send the agents' loopback requests to a proxy.
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


class DemoError(Exception):
    """The demo cannot go on (an agent did not start or died); the message says why."""


def _restart_command(workdir: Workdir, node: DemoNode, component: str) -> str:
    argv = [
        sys.executable,
        "-m",
        "xpagent.demo.restart",
        workdir.restart_url(node.node_id, component),
    ]
    return shlex.join(argv)


def agent_env(workdir: Workdir, node: DemoNode, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of `node`'s agent: `base` without any `XP_*` or proxy variable,
    plus the demo's settings."""
    env = {
        name: value
        for name, value in base.items()
        if not name.startswith("XP_") and name.lower() not in _PROXY_VARIABLES
    }
    env.update(AGENT_SETTINGS)
    env.update(
        XP_BIND=f"127.0.0.1:{node.api_port}",
        XP_DATA_DIR=str(node.data_dir),
        XP_NODE_ID=node.node_id,
        XP_CLUSTER_FILE=str(workdir.cluster_file),
        XP_CLUSTER_SECRET_FILE=str(workdir.secret_file),
        XP_ADMIN_TOKEN=workdir.admin_token,
        XP_XRAY_API_ADDR=f"127.0.0.1:{node.xray_port}",
        XP_XRAY_RESTART_COMMAND=_restart_command(workdir, node, "xray"),
    )
    if node.metrics_port is None:
        env.update(XP_CLOUDFLARED_MONITOR_MODE="none", XP_CLOUDFLARED_RESTART_MODE="none")
    else:
        env.update(
            XP_CLOUDFLARED_MONITOR_MODE="metrics",
            XP_CLOUDFLARED_METRICS_URL=f"http://127.0.0.1:{node.metrics_port}",
            XP_CLOUDFLARED_RESTART_MODE="command",
            XP_CLOUDFLARED_RESTART_COMMAND=_restart_command(workdir, node, "cloudflared"),
        )
    return env


@attrs.define
class AgentProcess:
    """A running agent process of the demo."""

    node: DemoNode
    process: trio.Process

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 8) -> str:
        """The last lines of the agent's log, for an error message."""
        try:
            text = self.node.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


async def _spawn(workdir: Workdir, node: DemoNode, base_env: Mapping[str, str]) -> AgentProcess:
    with node.log_path.open("ab") as log:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "xpagent", "run"],
            env=agent_env(workdir, node, base_env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: a terminal's Ctrl-C is for the demo, which stops it.
            start_new_session=True,
        )
    return AgentProcess(node, process)


async def _wait_healthy(agent: AgentProcess, client: httpx.AsyncClient) -> None:
    """Return once the agent answers /api/health as its node; DemoError if it exits or
    does not answer within `START_SECS`."""
    url = f"{agent.node.api_url}/api/health"
    with trio.move_on_after(START_SECS):
        while agent.process.returncode is None:
            try:
                response = await client.get(url)
                if response.status_code == 200 and (
                    response.json().get("node_id") == agent.node.node_id
                ):
                    return
            except (httpx.HTTPError, ValueError):
                pass  # not listening yet
            await trio.sleep(_HEALTH_POLL_SECS)
        raise DemoError(
            f"the agent of {agent.node.node_id} exited with status "
            f"{agent.process.returncode} while starting; the end of its log "
            f"({agent.node.log_path}):\n{agent.log_tail()}"
        )
    raise DemoError(
        f"the agent of {agent.node.node_id} did not answer {url} within {START_SECS:g} s; "
        f"the end of its log ({agent.node.log_path}):\n{agent.log_tail()}"
    )


def _kill_group(agent: AgentProcess) -> None:
    with suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(agent.pid, signal.SIGKILL)


async def _stop(agent: AgentProcess, narrator: Narrator) -> None:
    """SIGTERM, a bounded wait for the clean exit, SIGKILL for a straggler."""
    process = agent.process
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(STOP_SECS):
            await process.wait()
    if process.returncode is None:
        narrator.say("demo", f"{agent.node.node_id}'s agent did not stop in time: killing it")
        _kill_group(agent)
        with trio.move_on_after(KILL_SECS):
            await process.wait()
    returncode = process.returncode
    how = "still running?!" if returncode is None else f"exit status {returncode}"
    narrator.say("demo", f"{agent.node.node_id}'s agent stopped ({how})")


async def stop_agents(agents: Sequence[AgentProcess], narrator: Narrator) -> None:
    """Stop every agent, all at once."""
    async with trio.open_nursery() as nursery:
        for agent in agents:
            nursery.start_soon(_stop, agent, narrator)


@asynccontextmanager
async def open_agents(
    workdir: Workdir, narrator: Narrator, *, base_env: Mapping[str, str] | None = None
) -> AsyncIterator[list[AgentProcess]]:
    """Start one agent per node and wait until each answers; stop them all on exit.

    Raises DemoError when an agent does not come up.
    """
    base = dict(os.environ if base_env is None else base_env)
    agents: list[AgentProcess] = []
    try:
        for node in workdir.nodes:
            agents.append(await _spawn(workdir, node, base))
        async with (
            httpx.AsyncClient(trust_env=False, timeout=2.0) as client,
            trio.open_nursery() as nursery,
        ):
            for agent in agents:
                nursery.start_soon(_wait_healthy, agent, client)
        yield agents
    finally:
        # Whatever happened (Ctrl-C, an error, a failed start): no agent is left.
        with trio.CancelScope(shield=True):
            await stop_agents(agents, narrator)


async def wait_until_one_exits(agents: Sequence[AgentProcess]) -> None:
    """Raise DemoError as soon as any agent exits (they should run until stopped)."""

    async def watch(agent: AgentProcess) -> None:
        returncode = await agent.process.wait()
        raise DemoError(
            f"the agent of {agent.node.node_id} exited unexpectedly with status "
            f"{returncode}; the end of its log ({agent.node.log_path}):\n{agent.log_tail()}"
        )

    async with trio.open_nursery() as nursery:
        for agent in agents:
            nursery.start_soon(watch, agent)
