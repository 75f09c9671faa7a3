"""What the benches share: the agent under test, the fullest state file, percentiles
and what /proc says about a process.

Each bench is a script run from the project root (`.venv/bin/python bench/NAME.py`);
this directory is on `sys.path` then (it holds the script), which is how `_support`
is found. The benches also drive the tests' fakes (`FakeXrayApi`, silent TCP
listeners, free ports): this module puts the project root on `sys.path` once, for
`tests.*`, and re-exports what they use, so no bench imports another.

The agent is started and stopped by the package's one launcher,
`xpagent.agent_process.run_agent_process` (`open_agent` adds the bench's checks).
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import trio

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.grpc_xray import FakeXrayApi, running_xray_api, serve_silent_tcp
from tests.servers import free_port
from xpagent.agent_process import (
    AgentProcess,
    AgentStartError,
    agent_environment,
    run_agent_process,
)
from xpagent.core import (
    MAX_EVENTS,
    SLOT_LENGTH,
    SLOT_SECS,
    WINDOW_SLOTS,
    Component,
    ComponentState,
    ComponentStatus,
    Event,
    EventKind,
    EventLog,
    History,
    NodeRuntime,
    ProbeResult,
    RestartResult,
    Slot,
    Summary,
    begin_restart,
    decode_state,
    encode_state,
    finish_restart,
    observe,
    window_start_of,
)
from xpagent.daemon import STATE_FILE_NAME, write_state
from xpagent.exception_groups import first_leaf

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "CLOCK_TICKS",
    "NODE_ID",
    "STOP_DEADLINE_SECS",
    "TOKEN",
    "AgentProcess",
    "BenchError",
    "FakeXrayApi",
    "admin_headers",
    "agent_log_problems",
    "bench_slot",
    "cpu_secs",
    "first_leaf",
    "free_port",
    "full_runtime",
    "open_agent",
    "peak_rss_bytes",
    "percentile",
    "prefill",
    "rss_bytes",
    "run_bench",
    "running_xray_api",
    "serve_silent_tcp",
]

TOKEN = "bench-admin-token"
STARTUP_DEADLINE_SECS = 60.0
#: CONTRACT §5: after SIGTERM the process exits 0 within 5 s.
STOP_DEADLINE_SECS = 5.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The bench could not run its scenario (a missed target is not one of these)."""


def run_bench(
    name: str, directory: Path | None, run: Callable[..., Awaitable[object]], *args: object
) -> None:
    """`trio.run(run, *args, workdir)` with a fresh temporary `workdir` under
    `directory` (None: the system's); a BenchError ends the process with one line
    `name: reason` (exit status 1). The directory is removed afterwards."""
    failure: BaseException | None = None
    with tempfile.TemporaryDirectory(prefix=f"xpagent-{name}-", dir=directory) as workdir:
        try:
            trio.run(functools.partial(run, *args), Path(workdir))
        except* BenchError as group:
            failure = first_leaf(group)
    if failure is not None:
        sys.exit(f"{name}: {failure}")


# --- the agent under test, as a subprocess --------------------------------------------


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def agent_log_problems(log_path: Path) -> list[str]:
    """The agent's log records above info (it logs JSON lines), one line each, but for
    the `xp` going down that a stop records."""
    problems = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            record: Any = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"stray: {line}")
            continue
        if not isinstance(record, dict):
            problems.append(f"stray: {line}")
        elif record.get("component") == "xp" and record.get("status") == "down":
            continue  # the clean stop the bench asked for
        elif record.get("level") not in ("debug", "info"):
            problems.append(f"{record.get('level')}: {record.get('message')}")
    return problems


@asynccontextmanager
async def open_agent(
    env: Mapping[str, str], *, port: int, log_path: Path, client: httpx.AsyncClient
) -> AsyncIterator[AgentProcess]:
    """`python -m xpagent run` on 127.0.0.1:`port` with `env` (it must set XP_NODE_ID
    and XP_DATA_DIR; the admin token is `TOKEN`), logging JSON to `log_path`, ready
    to serve; stopped with SIGTERM at the end of the block (killed after 3× the
    contract's 5 s). Raises BenchError if it does not start, or does not exit 0
    within the contract's 5 s."""
    settings = {
        "XP_BIND": f"127.0.0.1:{port}",
        "XP_ADMIN_TOKEN": TOKEN,
        "XP_LOG_FORMAT": "json",
        "XP_LOG_LEVEL": "info",
        **env,
    }
    launch = functools.partial(
        run_agent_process,
        agent_environment(settings),
        health_client=client,
        log_path=log_path,
        start_secs=STARTUP_DEADLINE_SECS,
        grace_secs=3 * STOP_DEADLINE_SECS,
    )
    async with trio.open_nursery() as nursery:
        try:
            agent: AgentProcess = await nursery.start(launch)
        except AgentStartError as exc:
            raise BenchError(str(exc)) from None
        try:
            yield agent
        finally:
            nursery.cancel_scope.cancel()
    returncode, stop_secs = agent.process.returncode, agent.stopped_after
    if returncode != 0 or stop_secs is None or stop_secs > STOP_DEADLINE_SECS:
        took = "killed" if stop_secs is None else f"{stop_secs:.2f} s after SIGTERM"
        raise BenchError(
            f"the agent exited with {returncode} ({took}; expected 0 within "
            f"{STOP_DEADLINE_SECS:g} s):\n{agent.log_tail(20)}"
        )


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.99 for p99) of non-empty `samples`."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# --- a process, seen through /proc (Linux) ---------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def cpu_secs(pid: int) -> float:
    """utime + stime of the whole process (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields from 3 (state) on
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


# --- the fullest state file -------------------------------------------------------------

NODE_ID = "bench-node-eu-west-01"

PROBE_FAILURES = {
    Component.XRAY: (
        "dial tcp 127.0.0.1:10085: connect: connection refused",
        "stats API did not answer within 2 s",
        "xray process not found (pid file /run/xray.pid is stale)",
    ),
    Component.CLOUDFLARED: (
        "GET http://127.0.0.1:20241/ready: 503 Service Unavailable",
        "GET http://127.0.0.1:20241/ready: no ready connections to the edge",
        "connect to 127.0.0.1:20241 timed out after 2 s",
    ),
}
RESTART_FAILURE = (
    "exit status 1: Job for {unit}.service failed because the control process exited "
    "with error code. See 'systemctl status {unit}.service' and 'journalctl -xeu {unit}' "
    "for details."
)


def _outages(now: datetime) -> Iterator[Event]:
    """Events of xray and cloudflared outages, oldest first, all within the last 7 days.

    Each outage is a failed probe that takes the component down, a restart
    request, its outcome (one in five fails), and a probe that finds it up again:
    the messages are the core's own.
    """
    count = MAX_EVENTS // 4
    spacing = timedelta(days=6, hours=20) / count
    states = {c: ComponentState(c, status=ComponentStatus.UP) for c in PROBE_FAILURES}
    for index in range(count):
        component = Component.CLOUDFLARED if index % 3 == 0 else Component.XRAY
        reasons = PROBE_FAILURES[component]
        at = now - timedelta(days=7) + (index + 1) * spacing
        state, events = observe(
            states[component],
            ProbeResult.failure(reasons[index % len(reasons)]),
            at,
            fails_before_down=1,
        )
        yield from events
        state, events = begin_restart(state, at, how=f"systemctl restart {component}")
        yield from events
        if index % 5 == 4:
            outcome = RestartResult.failure(RESTART_FAILURE.format(unit=component))
        else:
            outcome = RestartResult.success()
        state, events = finish_restart(state, outcome, at + timedelta(seconds=2))
        yield from events
        state, events = observe(
            state, ProbeResult.success(), at + timedelta(seconds=31), fails_before_down=1
        )
        yield from events
        states[component] = state


def bench_slot(start: datetime, observed: int, *, down_secs: int | None) -> Slot:
    """A slot observed for `observed` seconds: all up, or — with `down_secs` — xray
    down for that long (the node degraded, two changes)."""
    troubled = down_secs is not None
    return Slot(
        start,
        summary=Summary.DEGRADED if troubled else Summary.UP,
        statuses={
            Component.XP: ComponentStatus.UP,
            Component.XRAY: ComponentStatus.DOWN if troubled else ComponentStatus.UP,
            Component.CLOUDFLARED: ComponentStatus.UP,
        },
        observed_secs=observed,
        down_secs=min(observed, down_secs or 0),
        changes=2 if troubled else 0,
    )


def _slots(now: datetime) -> tuple[Slot, ...]:
    """All 336 slots of the window with data, one in seven degraded for a while."""
    first = window_start_of(now)
    slots = []
    for index in range(WINDOW_SLOTS):
        start = first + index * SLOT_LENGTH
        observed = min(SLOT_SECS, int((now - start).total_seconds()))
        slots.append(bench_slot(start, observed, down_secs=95 if index % 7 == 3 else None))
    return tuple(slots)


def _latest(events: tuple[Event, ...], component: Component, kind: EventKind) -> datetime:
    return max(e.occurred_at for e in events if e.component is component and e.kind is kind)


def full_runtime(now: datetime) -> NodeRuntime:
    """A runtime of node `NODE_ID` with as much history as the state file can hold,
    its newest moment being `now`."""
    events = tuple(reversed(tuple(_outages(now))))
    components = (
        ComponentState(Component.XP, status=ComponentStatus.UP, checked_at=now),
        *(
            ComponentState(
                component,
                status=ComponentStatus.UP,
                checked_at=now,
                last_restart_at=_latest(events, component, EventKind.RESTART_REQUESTED),
                last_restart_failed_at=_latest(events, component, EventKind.RESTART_FAILED),
            )
            for component in (Component.XRAY, Component.CLOUDFLARED)
        ),
    )
    return NodeRuntime(
        NODE_ID, components, History(_slots(now)), EventLog(events), observed_until=now
    )


def prefill(data_dir: Path, now: datetime) -> int:
    """Write the fullest state file, its newest moment being `now` (the agent would
    drop slots and events from "the future"); its size in bytes."""
    runtime = full_runtime(now)
    data = encode_state(runtime, now)
    decoded = decode_state(data, node_id=NODE_ID)
    assert len(decoded.recent_slots) == WINDOW_SLOTS, len(decoded.recent_slots)
    assert len(decoded.events) == MAX_EVENTS, len(decoded.events)
    data_dir.mkdir()
    write_state(data_dir / STATE_FILE_NAME, data)
    return len(data)
