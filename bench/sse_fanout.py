"""How fast one agent fans its events out to 1000 event-stream clients, and what they cost.

One real agent (`python -m xpagent run`, a subprocess, so its CPU and memory are
measured alone) watching a simulated xray (the tests' `FakeXrayApi`, a real grpcio
server in the bench process) every second, down after one failed probe. The bench
process opens `--clients` (1000) concurrent raw-socket clients of
`GET /api/admin/nodes/{self}/runtime/events?events_limit=0` (h11 for HTTP/1.1,
a few lines for the SSE frames). Once all are connected (each got its first
`snapshot`, and `/api/health` reports them in `sse_streams`), it causes
`--events` (10) real events by stopping and starting the simulated xray, one at a
time: after each, it waits until every client has the event and the `snapshot`
that follows it (at most once a second, built for each client), then `--gap`
(1 s) more, so one event's work is done before the next one starts.

The delay of one event at one client is the time the frame arrived at the
client's socket minus the event's `occurred_at` (wall clock, same machine). The
arrival time is the kernel's receive timestamp of the socket's data
(`SO_TIMESTAMP`), so the bench's own work on 1000 sockets does not count; the
`occurred_at` has milliseconds, which adds under 1 ms.

The table shows, per event and overall, min, median, p99 and maximum over all
clients × events (targets ≤ 50 ms and ≤ 250 ms), when the last client had the
snapshot after the event ("snapshots done", from `occurred_at`) and the agent's
resident memory then. Below it: the agent's resident memory before and after
connecting the clients (→ KiB per client) and its CPU time per phase. Finally
all clients hang up at once and the bench times how long `/api/health` takes to
report `sse_streams` 0 again (target ≤ 1 s).

Linux only (/proc, SO_TIMESTAMP). Run it from the project root, with the dev
extras installed (grpcio):

    .venv/bin/python bench/sse_fanout.py [--clients 1000] [--events 10] [--gap 1]
        [--quick] [--dir DIR]

`--quick` is a smoke run: 100 clients, 2 events, 0.5 s gap. It raises its own
open-file limit (and so the agent's) as far as the clients need. The exit status
is non-zero only when the bench could not run (the agent did not start or stop
cleanly, clients could not connect, events never arrived); a missed target is
printed, not an error.
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import statistics
import struct
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import h11
import httpx
import trio
from _support import (
    TOKEN,
    AgentProcess,
    BenchError,
    FakeXrayApi,
    admin_headers,
    agent_log_problems,
    cpu_secs,
    free_port,
    open_agent,
    percentile,
    rss_bytes,
    run_bench,
    running_xray_api,
)

from xpagent.core import parse_time

NODE_ID = "bench-sse-node"
KIB = 1024
MIB = 1024 * 1024
#: SO_TIMESTAMP(_OLD) of asm-generic (x86-64, arm64); Python's socket module lacks it.
SO_TIMESTAMP = 29
TIMEVAL = struct.Struct("@ll")
RECV_BYTES = 64 * 1024
ANC_BYTES = socket.CMSG_SPACE(TIMEVAL.size)
#: Clients connecting at once (the listen backlog is 100).
CONNECT_CONCURRENCY = 50
CONNECT_DEADLINE_SECS = 120.0
EVENT_DEADLINE_SECS = 15.0
XRAY_UP_DEADLINE_SECS = 15.0
SETTLE_SECS = 1.0
STREAMS_ZERO_DEADLINE_SECS = 10.0
HEALTH_POLL_SECS = 0.01
TARGET_MEDIAN_SECS = 0.050
TARGET_P99_SECS = 0.250
TARGET_RELEASE_SECS = 1.0


# --- what the clients saw -------------------------------------------------------------


@attrs.define
class Deliveries:
    """What all clients received; shared by the client tasks (one trio thread, no lock).

    Waiters are woken only when something they wait for can have changed: a client
    became ready or failed, an event reached every client, or the snapshots reached
    the count waited for.
    """

    clients: int
    #: event_id → the delay at each client that got it, in seconds.
    delays: dict[str, list[float]] = attrs.Factory(dict)
    transitions: dict[str, str] = attrs.Factory(dict)
    #: event_id → its `occurred_at`, Unix seconds.
    occurred: dict[str, float] = attrs.Factory(dict)
    #: event_id → from its `occurred_at` until the last client had the snapshot after it.
    snapshots_done: dict[str, float] = attrs.Factory(dict)
    ready: int = 0
    failed: int = 0
    first_failure: str | None = None
    complete_events: int = 0
    snapshots: int = 0
    snapshot_goal: int = 0
    last_snapshot_at: float = 0.0
    lagged: int = 0
    ended: int = 0
    untimed: int = 0  # data without a kernel timestamp (timed by the bench's clock)
    _changed: trio.Event = attrs.Factory(trio.Event)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def became_ready(self) -> None:
        self.ready += 1
        if self.ready + self.failed == self.clients:
            self._notify()

    def failure(self, reason: str) -> None:
        self.failed += 1
        self.first_failure = self.first_failure or reason
        self._notify()

    def event(self, data: str, arrived: float) -> None:
        body: Any = json.loads(data)
        event_id = body["event_id"]
        occurred = parse_time(body["occurred_at"]).timestamp()
        delays = self.delays.setdefault(event_id, [])
        delays.append(arrived - occurred)
        self.transitions[event_id] = f"{body['status_from']} -> {body['status_to']}"
        self.occurred[event_id] = occurred
        if len(delays) == self.clients:
            self.complete_events += 1
            self._notify()

    def snapshot(self, arrived: float) -> None:
        self.snapshots += 1
        self.last_snapshot_at = max(self.last_snapshot_at, arrived)
        if self.snapshots == self.snapshot_goal:
            self._notify()

    async def wait_for(self, condition: Callable[[], bool], timeout_secs: float) -> bool:
        """Whether `condition` held within `timeout_secs`."""
        with trio.move_on_after(timeout_secs):
            while not condition():
                await self._changed.wait()
            return True
        return False

    async def wait_for_event(self, number: int, timeout_secs: float) -> str | None:
        """The id of event `number` (from 1) once every client has it, or None if the
        time ran out; then, within the same time, until every client also has the
        snapshot after it."""
        if not await self.wait_for(lambda: self.complete_events >= number, timeout_secs):
            return None
        event_id = list(self.delays)[number - 1]
        # Every client has had one snapshot at the start and one after each event.
        self.snapshot_goal = self.clients * (number + 1)
        if await self.wait_for(lambda: self.snapshots >= self.snapshot_goal, timeout_secs):
            self.snapshots_done[event_id] = self.last_snapshot_at - self.occurred[event_id]
        return event_id


class SseFrames:
    """Splits one client's stream into SSE frames and hands them to `Deliveries`."""

    def __init__(self, deliveries: Deliveries, on_first_snapshot: Callable[[], None]) -> None:
        self._deliveries = deliveries
        self._on_first_snapshot: Callable[[], None] | None = on_first_snapshot
        self._buffer = bytearray()

    def feed(self, data: bytes, arrived: float) -> None:
        searched = max(0, len(self._buffer) - 1)
        self._buffer += data
        while (end := self._buffer.find(b"\n\n", searched)) >= 0:
            self._frame(bytes(self._buffer[:end]), arrived)
            del self._buffer[: end + 2]
            searched = 0

    def _frame(self, text: bytes, arrived: float) -> None:
        name, data = "", []
        for line in text.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: ") and name == "event":
                data.append(line[6:].decode())
        if name == "event":
            self._deliveries.event("\n".join(data), arrived)
        elif name == "snapshot":
            self._deliveries.snapshot(arrived)
            if self._on_first_snapshot is not None:
                self._on_first_snapshot()
                self._on_first_snapshot = None
        elif name == "lagged":
            self._deliveries.lagged += 1


def arrival_time(ancdata: Sequence[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive timestamp (Unix seconds) in `recvmsg`'s ancillary data."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(data) >= TIMEVAL.size:
            seconds, micros = TIMEVAL.unpack_from(data)
            return float(seconds) + float(micros) / 1e6
    return None


async def _send_all(sock: trio.socket.SocketType, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await sock.send(view) :]


async def watch(
    port: int, path: str, deliveries: Deliveries, limiter: trio.CapacityLimiter
) -> None:
    """One event-stream client, until cancelled or the server ends the stream.

    It holds a `limiter` token from connecting until its first snapshot, so only a
    few clients are being set up at any moment.
    """
    await limiter.acquire()
    holding = True

    def ready() -> None:
        nonlocal holding
        holding = False
        limiter.release()
        deliveries.became_ready()

    try:
        with trio.socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
            await sock.connect(("127.0.0.1", port))
            connection = h11.Connection(h11.CLIENT)
            request = h11.Request(
                method="GET",
                target=path,
                headers=[
                    ("Host", f"127.0.0.1:{port}"),
                    ("Authorization", f"Bearer {TOKEN}"),
                    ("Accept", "text/event-stream"),
                ],
            )
            await _send_all(sock, connection.send(request) + (connection.send(h11.EndOfMessage())))
            frames = SseFrames(deliveries, ready)
            while True:
                data, ancdata, _flags, _address = await sock.recvmsg(RECV_BYTES, ANC_BYTES)
                arrived = arrival_time(ancdata)
                if arrived is None:
                    deliveries.untimed += 1
                    arrived = time.time()
                connection.receive_data(data)
                while (event := connection.next_event()) is not h11.NEED_DATA:
                    if isinstance(event, h11.Response) and event.status_code != 200:
                        deliveries.failure(f"{path}: HTTP {event.status_code}")
                        return
                    if isinstance(event, h11.Data):
                        frames.feed(bytes(event.data), arrived)
                    elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                        deliveries.ended += 1
                        return
    except (OSError, h11.ProtocolError) as exc:
        deliveries.failure(f"{type(exc).__name__}: {exc}")
    finally:
        if holding:
            limiter.release()


# --- the agent and the simulated xray -------------------------------------------------


async def health_streams(client: httpx.AsyncClient, agent: AgentProcess) -> int:
    response = await client.get(f"{agent.url}/api/health")
    response.raise_for_status()
    streams: int = response.json()["sse_streams"]
    return streams


async def wait_for_streams(
    client: httpx.AsyncClient, agent: AgentProcess, count: int, timeout_secs: float
) -> float | None:
    """Seconds until `/api/health` reports `count` streams, or None if not within the time."""
    started = trio.current_time()
    with trio.move_on_after(timeout_secs):
        # The count lives in another process: asking again is the only way to see it.
        while await health_streams(client, agent) != count:  # noqa: ASYNC110
            await trio.sleep(HEALTH_POLL_SECS)
        return trio.current_time() - started
    return None


async def wait_for_xray_up(client: httpx.AsyncClient, agent: AgentProcess) -> None:
    url = f"{agent.url}/api/admin/nodes/{agent.node_id}/runtime?events_limit=0"
    with trio.move_on_after(XRAY_UP_DEADLINE_SECS):
        while True:
            response = await client.get(url, headers=admin_headers())
            response.raise_for_status()
            xray = next(c for c in response.json()["components"] if c["component"] == "xray")
            if xray["status"] == "up":
                return
            await trio.sleep(0.1)
    raise BenchError(f"xray was not up in the agent's eyes within {XRAY_UP_DEADLINE_SECS:g} s")


async def toggle(xray: FakeXrayApi, running: bool) -> bool:
    """Stop the simulated xray if `running`, else start it; whether it runs now."""
    await trio.to_thread.run_sync(xray.stop if running else xray.start)
    return not running


def raise_open_files_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise BenchError(f"{needed} open files are needed, the hard limit is {hard}")
    return soft


# --- the run --------------------------------------------------------------------------


@attrs.frozen
class Phase:
    """The agent's CPU time and memory at one moment."""

    cpu_secs: float
    rss_bytes: int

    @classmethod
    def of(cls, pid: int) -> Phase:
        return cls(cpu_secs(pid), rss_bytes(pid))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def print_report(
    args: argparse.Namespace,
    deliveries: Deliveries,
    *,
    phases: dict[str, Phase],
    rss_after_event: dict[str, int],
    connect_secs: float,
    event_phase_secs: float,
    release_secs: float | None,
) -> None:
    clients = args.clients
    print()
    print(f"{clients} SSE clients of one agent, {len(deliveries.delays)} events")
    print()
    header = (
        f"{'event':>5}  {'occurred (UTC)':<14}  {'transition':<14}  {'clients':>9}  {'min':>11}"
        f"  {'median':>11}  {'p99':>11}  {'max':>11}  {'snapshots done':>14}  {'agent RSS':>10}"
    )
    print(header)
    print("-" * len(header))
    for number, (event_id, delays) in enumerate(deliveries.delays.items(), start=1):
        done_secs = deliveries.snapshots_done.get(event_id)
        done = f"{done_secs:12.2f} s" if done_secs is not None else f"{'-':>14}"
        rss = f"{rss_after_event.get(event_id, 0) / MIB:6.1f} MiB"
        occurred = datetime.fromtimestamp(deliveries.occurred[event_id], UTC).strftime(
            "%H:%M:%S.%f"
        )
        occurred = occurred[:-3]
        print(
            f"{number:>5}  {occurred:<14}  {deliveries.transitions[event_id]:<14}"
            f"  {len(delays):>4}/{clients:<4}"
            f"  {ms(min(delays))}  {ms(statistics.median(delays))}"
            f"  {ms(percentile(delays, 0.99))}  {ms(max(delays))}  {done}  {rss}"
        )
    every = [delay for delays in deliveries.delays.values() for delay in delays]
    print("-" * len(header))
    if every:
        median, p99 = statistics.median(every), percentile(every, 0.99)
        print(
            f"{'all':>5}  {'':<14}  {'':<14}  {len(every):>9}  {ms(min(every))}  {ms(median)}"
            f"  {ms(p99)}  {ms(max(every))}"
        )
        print()
        print(
            f"event delay, median: {ms(median)}   target ≤ {ms(TARGET_MEDIAN_SECS)}"
            f"   {verdict(median <= TARGET_MEDIAN_SECS)}"
        )
        print(
            f"event delay, p99:    {ms(p99)}   target ≤ {ms(TARGET_P99_SECS)}"
            f"   {verdict(p99 <= TARGET_P99_SECS)}"
        )
    missing = clients * len(deliveries.delays) - len(every)
    print(
        f"missing deliveries: {missing}; lagged frames: {deliveries.lagged};"
        f" snapshot frames: {deliveries.snapshots}"
        f" ({deliveries.snapshots / clients:.1f} per client);"
        f" reads without kernel timestamp: {deliveries.untimed}"
    )
    before, connected, after = phases["before"], phases["connected"], phases["after events"]
    print()
    print(
        f"agent RSS before the clients:  {before.rss_bytes / MIB:7.1f} MiB\n"
        f"agent RSS with the clients:    {connected.rss_bytes / MIB:7.1f} MiB"
        f"  → {(connected.rss_bytes - before.rss_bytes) / clients / KIB:.1f} KiB per client\n"
        f"agent RSS after the events:    {after.rss_bytes / MIB:7.1f} MiB"
    )
    print(
        f"connecting {clients} clients:   {connect_secs:6.2f} s,"
        f" agent CPU {phases['connecting'].cpu_secs - before.cpu_secs:.2f} s"
        f" ({(phases['connecting'].cpu_secs - before.cpu_secs) / clients * 1000:.2f} ms per client)"
    )
    events_cpu = after.cpu_secs - connected.cpu_secs
    print(
        f"event phase:                  {event_phase_secs:6.2f} s,"
        f" agent CPU {events_cpu:.2f} s"
        f" ({events_cpu / max(1, len(deliveries.delays)):.2f} s per event, snapshots included)"
    )
    if release_secs is None:
        print(
            f"streams after hang-up:        not back to 0 within {STREAMS_ZERO_DEADLINE_SECS:g} s"
            f"   target ≤ {TARGET_RELEASE_SECS:g} s   MISSED"
        )
    else:
        ok = release_secs <= TARGET_RELEASE_SECS
        print(
            f"streams after hang-up:        0 after {release_secs:.3f} s"
            f"   target ≤ {TARGET_RELEASE_SECS:g} s   {verdict(ok)}"
        )


async def run(args: argparse.Namespace, directory: Path) -> None:
    limit = raise_open_files_limit(args.clients + 256)
    print(f"open files limit: {limit}")
    port = free_port()
    env = {
        "XP_NODE_ID": NODE_ID,
        "XP_DATA_DIR": str(directory / "data"),
        "XP_XRAY_HEALTH_INTERVAL_SECS": "1",
        "XP_XRAY_HEALTH_FAILS_BEFORE_DOWN": "1",
        "XP_SSE_MAX_STREAMS": str(args.clients),
    }
    path = f"/api/admin/nodes/{NODE_ID}/runtime/events?events_limit=0"
    deliveries = Deliveries(args.clients)
    phases: dict[str, Phase] = {}
    rss_after_event: dict[str, int] = {}
    log_path = directory / "agent.log"
    with running_xray_api() as xray:
        env["XP_XRAY_API_ADDR"] = xray.addr
        async with (
            httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(10.0)) as client,
            open_agent(env, port=port, log_path=log_path, client=client) as agent,
        ):
            print(f"agent pid {agent.pid} on {agent.url}", flush=True)
            await wait_for_xray_up(client, agent)
            await trio.sleep(SETTLE_SECS)
            phases["before"] = Phase.of(agent.pid)
            async with trio.open_nursery() as nursery:
                limiter = trio.CapacityLimiter(CONNECT_CONCURRENCY)
                started = trio.current_time()
                for _ in range(args.clients):
                    nursery.start_soon(watch, port, path, deliveries, limiter)
                settled = await deliveries.wait_for(
                    lambda: deliveries.ready + deliveries.failed == args.clients,
                    CONNECT_DEADLINE_SECS,
                )
                connect_secs = trio.current_time() - started
                if not settled or deliveries.failed:
                    raise BenchError(
                        f"{deliveries.ready} of {args.clients} clients connected in"
                        f" {connect_secs:.1f} s; {deliveries.failed} failed, the first:"
                        f" {deliveries.first_failure}"
                    )
                phases["connecting"] = Phase.of(agent.pid)
                if await wait_for_streams(client, agent, args.clients, 5.0) is None:
                    streams = await health_streams(client, agent)
                    raise BenchError(f"/api/health reports {streams} streams, not {args.clients}")
                print(f"{args.clients} clients connected in {connect_secs:.2f} s", flush=True)
                await trio.sleep(SETTLE_SECS)
                phases["connected"] = Phase.of(agent.pid)

                running = True
                events_started = trio.current_time()
                for number in range(1, args.events + 1):
                    running = await toggle(xray, running)
                    event_id = await deliveries.wait_for_event(number, EVENT_DEADLINE_SECS)
                    if event_id is None:
                        raise BenchError(
                            f"event {number} did not reach every client within"
                            f" {EVENT_DEADLINE_SECS:g} s ({deliveries.failed} clients failed,"
                            f" {deliveries.ended} streams ended; first failure:"
                            f" {deliveries.first_failure})"
                        )
                    rss_after_event[event_id] = rss_bytes(agent.pid)
                    print(f"event {number} delivered to all clients", flush=True)
                    await trio.sleep(args.gap)
                event_phase_secs = trio.current_time() - events_started
                phases["after events"] = Phase.of(agent.pid)
                nursery.cancel_scope.cancel()
            # Every client socket is closed once the nursery is done.
            release_secs = await wait_for_streams(client, agent, 0, STREAMS_ZERO_DEADLINE_SECS)
    print_report(
        args,
        deliveries,
        phases=phases,
        rss_after_event=rss_after_event,
        connect_secs=connect_secs,
        event_phase_secs=event_phase_secs,
        release_secs=release_secs,
    )
    for problem in agent_log_problems(log_path):
        if "xray status changed" not in problem:  # the flapping the bench caused
            print(f"agent log: {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Event delivery to many SSE clients.")
    parser.add_argument("--clients", type=int, default=1000, help="SSE clients (1000)")
    parser.add_argument("--events", type=int, default=10, help="events to cause (10)")
    parser.add_argument("--gap", type=float, default=1.0, help="pause between events (1 s)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 100 clients, 2 events, 0.5 s gap"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary files go")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.events, args.gap = 100, 2, 0.5
    if not 1 <= args.clients <= 10000 or args.events < 1 or args.gap < 0:
        parser.error("--clients must be in 1..=10000, --events at least 1, --gap not negative")
    run_bench("sse_fanout", args.dir, run, args)


if __name__ == "__main__":
    main()
