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
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _support import NODE_ID, full_runtime, percentile

from xpagent.core import MAX_EVENTS, WINDOW_SLOTS, decode_state, encode_state
from xpagent.daemon import STATE_FILE_NAME, load_state, write_state

NOW = datetime(2026, 11, 28, 12, 17, 42, 318_000, tzinfo=UTC)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description="Size and write/load times of a full state file.")
    parser.add_argument("--runs", type=int, default=50, help="timed runs (default 50)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the file")
    args = parser.parse_args()

    runtime = full_runtime(NOW)
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
                f"  {percentile(samples, 0.95) * 1000:>6.2f} ms  {max(samples) * 1000:>6.2f} ms"
            )


if __name__ == "__main__":
    main()
