"""How big the fullest state file is, and how long writing and loading it take.

Builds the largest state the contract allows (336 half-hour slots, all with data,
and 2000 events with realistic messages), then times over `--runs` runs, after a
warm-up run:

- `encode_state`, `write_state` (temp file, fsync, rename, fsync of the
  directory) and the two together, as the daemon's periodic write does them;
- `load_state`: read, decode and restore, as the daemon does at start.

Run it from the project root:

    .venv/bin/python bench/state_file.py [--runs 50] [--dir DIR]

The file is written in a new temporary directory inside `--dir` (default: the
system's temporary directory); point `--dir` at the data disk to measure its
fsync.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from xpagent.daemon import STATE_FILE_NAME, load_state, write_state

NODE_ID = "bench-node-eu-west-01"
NOW = datetime(2026, 11, 28, 12, 17, 42, 318_000, tzinfo=UTC)

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


def _outages() -> Iterator[Event]:
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
        at = NOW - timedelta(days=7) + (index + 1) * spacing
        state, events = observe(
            states[component],
            ProbeResult.failure(reasons[index % len(reasons)]),
            at,
            fails_before_down=1,
        )
        yield from events
        state, event = begin_restart(state, at, how=f"systemctl restart {component}")
        yield event
        if index % 5 == 4:
            outcome = RestartResult.failure(RESTART_FAILURE.format(unit=component))
        else:
            outcome = RestartResult.success()
        state, event = finish_restart(state, outcome, at + timedelta(seconds=2))
        yield event
        state, events = observe(
            state, ProbeResult.success(), at + timedelta(seconds=31), fails_before_down=1
        )
        yield from events
        states[component] = state


def _slots() -> tuple[Slot, ...]:
    """All 336 slots of the window with data, one in seven degraded for a while."""
    first = window_start_of(NOW)
    slots = []
    for index in range(WINDOW_SLOTS):
        start = first + index * SLOT_LENGTH
        observed = min(SLOT_SECS, int((NOW - start).total_seconds()))
        troubled = index % 7 == 3
        slots.append(
            Slot(
                start,
                summary=Summary.DEGRADED if troubled else Summary.UP,
                xp=ComponentStatus.UP,
                xray=ComponentStatus.DOWN if troubled else ComponentStatus.UP,
                cloudflared=ComponentStatus.UP,
                observed_secs=observed,
                down_secs=min(observed, 95) if troubled else 0,
                changes=2 if troubled else 0,
            )
        )
    return tuple(slots)


def _latest(events: tuple[Event, ...], component: Component, kind: EventKind) -> datetime:
    return max(e.occurred_at for e in events if e.component is component and e.kind is kind)


def full_runtime() -> NodeRuntime:
    """A runtime with as much history as the state file can hold."""
    events = tuple(reversed(tuple(_outages())))
    components = (
        ComponentState(Component.XP, status=ComponentStatus.UP, checked_at=NOW),
        *(
            ComponentState(
                component,
                status=ComponentStatus.UP,
                checked_at=NOW,
                last_restart_at=_latest(events, component, EventKind.RESTART_REQUESTED),
                last_restart_failed_at=_latest(events, component, EventKind.RESTART_FAILED),
            )
            for component in (Component.XRAY, Component.CLOUDFLARED)
        ),
    )
    return NodeRuntime(NODE_ID, components, History(_slots()), EventLog(events), observed_until=NOW)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _p95(samples: list[float]) -> float:
    """The nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description="Size and write/load times of a full state file.")
    parser.add_argument("--runs", type=int, default=50, help="timed runs (default 50)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the file")
    args = parser.parse_args()

    runtime = full_runtime()
    data = encode_state(runtime, NOW)
    state = decode_state(data, node_id=NODE_ID)
    assert len(state.recent_slots) == WINDOW_SLOTS, len(state.recent_slots)
    assert len(state.events) == MAX_EVENTS, len(state.events)

    timings: dict[str, list[float]] = {
        "encode_state": [],
        "write_state (fsync)": [],
        "encode_state + write_state": [],
        "load_state (read+decode+restore)": [],
    }
    with tempfile.TemporaryDirectory(prefix="xpagent-bench-", dir=args.dir) as directory:
        path = Path(directory) / STATE_FILE_NAME
        for run in range(args.runs + 1):
            started = time.perf_counter()
            data = encode_state(runtime, NOW)
            encoded = time.perf_counter()
            write_state(path, data)
            written = time.perf_counter()
            loading = _timed(lambda: load_state(path, node_id=NODE_ID, now=NOW))
            if run == 0:
                loaded = load_state(path, node_id=NODE_ID, now=NOW)
                assert loaded.runtime is not None, loaded.reset_reason
                assert loaded.runtime.events == runtime.events
                continue  # the warm-up run
            timings["encode_state"].append(encoded - started)
            timings["write_state (fsync)"].append(written - encoded)
            timings["encode_state + write_state"].append(written - started)
            timings["load_state (read+decode+restore)"].append(loading)

        print(f"state file of node {NODE_ID!r}: {WINDOW_SLOTS} slots, {MAX_EVENTS} events")
        print(f"encoded size: {len(data):,} bytes ({len(data) / 1024:.1f} KiB)")
        print(f"written in:   {directory}")
        print(f"runs:         {args.runs} (after one warm-up run)")
        print()
        width = max(len(name) for name in timings)
        print(f"{'operation':<{width}}  {'median':>9}  {'p95':>9}  {'max':>9}")
        for name, samples in timings.items():
            print(
                f"{name:<{width}}  {statistics.median(samples) * 1000:>6.2f} ms"
                f"  {_p95(samples) * 1000:>6.2f} ms  {max(samples) * 1000:>6.2f} ms"
            )


if __name__ == "__main__":
    main()
