"""What an idle `xpagent run` costs: memory, CPU and state-file writes over time.

Pre-fills the fullest state file the contract allows (336 slots with data, 2000
events; `_support.prefill`, rebased to the current time) for node
`bench-node-eu-west-01`, starts a simulated xray (the tests' `FakeXrayApi`, a real
grpcio server answering `StatsService/GetStats`), then runs `python -m xpagent run`
with the DEFAULT probe intervals (xray every 2 s; cloudflared not used) and leaves
it alone. Every `--sample-secs` (30) it samples the agent's resident memory (VmRSS
in /proc/PID/status) and CPU time (utime+stime in /proc/PID/stat, in clock
ticks); the state file is watched ten times a second, and each new file (the agent
writes by rename, so a new inode or mtime) counts as one write. After `--minutes`
it prints RSS at start, after the warm-up and at the end, the CPU share of one
core, the writes seen, and stops the agent with SIGTERM, checking it exits 0
within the contract's 5 s.

Linux only (/proc). Run it from the project root, with the dev extras installed
(grpcio):

    .venv/bin/python bench/daemon_idle.py [--minutes 10] [--sample-secs 30]
        [--warmup-secs 60] [--dir DIR]

A ten-minute run in the background:

    nohup .venv/bin/python bench/daemon_idle.py --minutes 10 > /tmp/daemon_idle.txt 2>&1 &

The data directory is a new temporary directory inside `--dir` (default: the
system's temporary directory), removed at the end; the agent's log is kept in it
while it runs and its warnings and errors are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import attrs
import httpx
import trio
from _support import (
    NODE_ID,
    BenchError,
    cpu_secs,
    first_leaf,
    free_port,
    open_agent,
    peak_rss_bytes,
    prefill,
    rss_bytes,
    running_xray_api,
)

from xpagent.core import MAX_EVENTS, WINDOW_SLOTS, decode_state
from xpagent.daemon import STATE_FILE_NAME

MIB = 1024 * 1024
#: How often the state file is checked for a new write.
WATCH_SECS = 0.1


@attrs.frozen
class Sample:
    at: float  # seconds since the agent said it was serving
    rss_bytes: int
    cpu_secs: float


def sample(pid: int, since: float) -> Sample:
    return Sample(time.monotonic() - since, rss_bytes(pid), cpu_secs(pid))


def file_version(path: Path) -> tuple[int, int] | None:
    """What changes with every write: the inode (a write renames a new file in) and mtime."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns


class WriteCounter:
    """Counts the distinct versions of the state file seen since the start."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._version = file_version(path)
        self.writes = 0

    def check(self) -> None:
        version = file_version(self._path)
        if version is not None and version != self._version:
            self._version = version
            self.writes += 1


def log_records(log_path: Path) -> list[dict[str, object]]:
    records = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = {"level": "stray", "message": line}
        records.append(record if isinstance(record, dict) else {"message": line})
    return records


async def measure(
    args: argparse.Namespace, directory: Path, counter: WriteCounter
) -> tuple[list[Sample], float, int, float, int, str | None]:
    """Run the agent idle for `--minutes`: the samples, its peak RSS, the writes seen,
    the CPU it took to start, the probes xray answered, and why the stop failed."""
    duration = args.minutes * 60.0
    stop_failure: str | None = None
    samples: list[Sample] = []
    peak = writes_during_run = 0
    startup_cpu = 0.0
    with running_xray_api() as xray:
        env = {
            "XP_DATA_DIR": str(directory / "data"),
            "XP_NODE_ID": NODE_ID,
            "XP_XRAY_API_ADDR": xray.addr,
        }
        launched = time.monotonic()
        try:
            async with (
                httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(5.0)) as client,
                open_agent(
                    env, port=free_port(), log_path=directory / "agent.log", client=client
                ) as agent,
            ):
                serving = time.monotonic()
                startup_cpu = cpu_secs(agent.pid)
                samples = [sample(agent.pid, serving)]
                print(
                    f"agent pid {agent.pid} serving after {serving - launched:.2f} s"
                    f" ({startup_cpu:.2f} s CPU)",
                    flush=True,
                )
                next_sample = serving + args.sample_secs
                end = serving + duration
                while (now := time.monotonic()) < end:
                    counter.check()
                    if now >= next_sample:
                        current = sample(agent.pid, serving)
                        samples.append(current)
                        next_sample += args.sample_secs
                        print(
                            f"t={current.at:6.0f} s  RSS {current.rss_bytes / MIB:6.1f} MiB"
                            f"  CPU {current.cpu_secs:7.2f} s  writes {counter.writes}",
                            flush=True,
                        )
                    await trio.sleep(
                        min(WATCH_SECS, max(0.0, min(next_sample, end) - time.monotonic()))
                    )
                counter.check()
                samples.append(sample(agent.pid, serving))
                peak = peak_rss_bytes(agent.pid)
                writes_during_run = counter.writes
        except* BenchError as group:
            stop_failure = str(first_leaf(group))
        probes = len(xray.requests)
    return samples, peak, writes_during_run, startup_cpu, probes, stop_failure


def run(args: argparse.Namespace, directory: Path) -> int:
    data_dir = directory / "data"
    log_path = directory / "agent.log"
    state_path = data_dir / STATE_FILE_NAME
    size = prefill(data_dir, datetime.now(UTC))
    print(f"state file: {WINDOW_SLOTS} slots, {MAX_EVENTS} events, {size / 1024:.1f} KiB")
    counter = WriteCounter(state_path)
    samples, peak, writes_during_run, startup_cpu, probes, stop_failure = trio.run(
        measure, args, directory, counter
    )
    if len(samples) < 2:
        sys.exit(f"daemon_idle: {stop_failure}")
    final = samples[-1]

    counter.check()
    warm = next((s for s in samples if s.at >= args.warmup_secs), final)
    run_cpu = final.cpu_secs - samples[0].cpu_secs
    state = decode_state(state_path.read_bytes(), node_id=NODE_ID)
    records = log_records(log_path)
    noteworthy = [r for r in records if r.get("level") not in ("info", "debug")]

    print()
    print(f"xpagent run, idle, default intervals, for {final.at / 60:.1f} min")
    print(f"RSS at start:              {samples[0].rss_bytes / MIB:7.1f} MiB")
    print(f"RSS after warm-up ({warm.at:4.0f} s): {warm.rss_bytes / MIB:7.1f} MiB")
    print(f"RSS at the end:            {final.rss_bytes / MIB:7.1f} MiB (peak {peak / MIB:.1f})")
    print(
        f"CPU over the run:          {100 * run_cpu / final.at:7.2f} % of one core"
        f" ({run_cpu:.2f} s in {final.at:.0f} s; {startup_cpu:.2f} s more to start)"
    )
    print(
        f"state-file writes:         {writes_during_run:7d} from start to the end of the run"
        f" (+{counter.writes - writes_during_run} on SIGTERM)"
    )
    print(f"xray probes answered:      {probes:7d} (one every {final.at / max(probes, 1):.2f} s)")
    print(f"state file at the end:     {len(state.recent_slots)} slots, {len(state.events)} events")
    print(f"log lines:                 {len(records):7d}, of which not info: {len(noteworthy)}")
    for record in noteworthy:
        print(f"  {record.get('level')}: {record.get('message')}")
    print(f"SIGTERM: {stop_failure or 'exit 0 within 5 s'} -> {'FAILED' if stop_failure else 'OK'}")
    return 1 if stop_failure else 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Memory, CPU and writes of an idle agent.")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--sample-secs", type=float, default=30.0, help="sample period (30)")
    parser.add_argument("--warmup-secs", type=float, default=60.0, help="warm-up (default 60)")
    parser.add_argument("--dir", type=Path, default=None, help="where the data directory goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xpagent-idle-", dir=args.dir) as directory:
        sys.exit(run(args, Path(directory)))


if __name__ == "__main__":
    main()
