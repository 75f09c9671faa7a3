"""Throughput and latency of the runtime routes of one agent with a full history.

Pre-fills the fullest state file the contract allows (336 slots with data, 2000
events; `_support.prefill`, rebased to now) for node
`bench-node-eu-west-01`, starts a simulated xray (the tests' `FakeXrayApi`) and
one real agent (`python -m xpagent run`, a subprocess: the load generator in the
bench process does not share its CPU). Then, for each route, it drives the agent
from `--connections` (64) keep-alive HTTP/1.1 connections (raw trio sockets and
h11, far cheaper per request than a full client) that each send the next request
as soon as the answer is in, for `--secs` (20; 10 with `--quick`):

- `GET /api/admin/nodes/{self}/runtime` (the default `events_limit`, 200 events);
- `GET /api/admin/nodes/runtime` (the list; this cluster is the node alone).

Before each loaded run, one connection alone for a few seconds shows the service
time of one request without queueing. The table shows requests per second, p50,
p99 and maximum latency (target p99 ≤ 25 ms under the load), errors (non-200
answers and broken connections), the size of an answer, and the CPU the agent
and the bench process used (so it is clear which one was the bottleneck). With
a closed loop of N connections on a server that answers one request at a time,
latency ≈ N / throughput (Little's law): the p99 target then needs a throughput
of about N / 25 ms.

Linux only (/proc). Run it from the project root, with the dev extras installed
(grpcio):

    .venv/bin/python bench/runtime_load.py [--secs 20] [--connections 64] [--quick]
        [--dir DIR]

The agent's pid is printed, so a profiler can attach while it runs (for example
`.venv/bin/py-spy record -p PID -d 15 -o profile.svg`). The exit status is
non-zero only when the bench could not run (the agent did not start or stop
cleanly, a first answer was not what the contract says, connections kept
failing); a missed target is printed, not an error.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs
import h11
import httpx
import trio
from _support import (
    NODE_ID,
    TOKEN,
    AgentProcess,
    BenchError,
    admin_headers,
    agent_log_problems,
    cpu_secs,
    free_port,
    open_agent,
    percentile,
    prefill,
    run_bench,
    running_xray_api,
)

from xpagent.core import WINDOW_SLOTS

TARGET_P99_SECS = 0.025
EVENTS_LIMIT_DEFAULT = 200
#: How long one connection alone runs before each loaded run.
SERVICE_TIME_SECS = 3.0
#: A request that takes longer than this counts as an error (and the connection is renewed).
REQUEST_TIMEOUT_SECS = 30.0
#: Connection failures after which a run gives up (a broken agent, not a slow one).
MAX_CONNECTION_FAILURES = 100
RECEIVE_BYTES = 256 * 1024


@attrs.define
class Load:
    """What the connections of one run saw."""

    latencies: list[float] = attrs.Factory(list)
    errors: int = 0
    connection_failures: int = 0
    reconnects: int = 0  # connections the server ended in good order
    first_error: str | None = None
    answer_bytes: int = 0

    def error(self, reason: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or reason


async def _one_request(
    stream: trio.SocketStream, connection: h11.Connection, request: h11.Request
) -> tuple[int, int, bool]:
    """Send `request` on the keep-alive `connection`: the answer's status and body size,
    and whether the connection can carry another request (hypercorn closes it after
    `keep_alive_max_requests`, 1000 by default)."""
    await stream.send_all(connection.send(request) + connection.send(h11.EndOfMessage()))
    status, size = 0, 0
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await stream.receive_some(RECEIVE_BYTES))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            size += len(event.data)
        elif isinstance(event, h11.EndOfMessage):
            reusable = connection.our_state is h11.DONE and connection.their_state is h11.DONE
            if reusable:
                connection.start_next_cycle()
            return status, size, reusable
        elif isinstance(event, h11.ConnectionClosed):
            raise h11.RemoteProtocolError("the agent closed the connection")


async def drive(port: int, target: str, deadline: float, load: Load) -> None:
    """One keep-alive connection sending requests back to back until `deadline`
    (trio time); a broken connection is counted and replaced."""
    request = h11.Request(
        method="GET",
        target=target,
        headers=[("Host", f"127.0.0.1:{port}"), ("Authorization", f"Bearer {TOKEN}")],
    )
    while trio.current_time() < deadline:
        if load.connection_failures >= MAX_CONNECTION_FAILURES:
            return
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError as exc:
            load.connection_failures += 1
            load.error(f"connect: {exc}")
            continue
        async with stream:
            connection = h11.Connection(h11.CLIENT)
            while trio.current_time() < deadline:
                started = time.perf_counter()
                try:
                    with trio.fail_after(REQUEST_TIMEOUT_SECS):
                        status, size, reusable = await _one_request(stream, connection, request)
                except (
                    OSError,
                    trio.BrokenResourceError,
                    trio.TooSlowError,
                    h11.ProtocolError,
                ) as exc:
                    load.connection_failures += 1
                    load.error(f"{type(exc).__name__}: {exc}")
                    break
                if status == 200:
                    load.latencies.append(time.perf_counter() - started)
                    load.answer_bytes = size
                else:
                    load.error(f"HTTP {status}")
                if not reusable:
                    load.reconnects += 1
                    break


@attrs.frozen
class Run:
    route: str
    connections: int
    secs: float
    load: Load
    agent_cpu_secs: float
    bench_cpu_secs: float

    @property
    def per_sec(self) -> float:
        return len(self.load.latencies) / self.secs


async def measure(
    agent: AgentProcess, port: int, route: str, target: str, connections: int, secs: float
) -> Run:
    load = Load()
    agent_cpu, bench_cpu = cpu_secs(agent.pid), time.process_time()
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(drive, port, target, started + secs, load)
    elapsed = trio.current_time() - started
    if load.connection_failures >= MAX_CONNECTION_FAILURES or not load.latencies:
        raise BenchError(
            f"{route}: {load.connection_failures} connection failures, "
            f"{len(load.latencies)} answers; the first error: {load.first_error}"
        )
    return Run(
        route,
        connections,
        elapsed,
        load,
        cpu_secs(agent.pid) - agent_cpu,
        time.process_time() - bench_cpu,
    )


async def check_first_answer(client: httpx.AsyncClient, agent: AgentProcess, route: str) -> None:
    """The answer of `route` is what the contract says, and as full as the bench needs."""
    response = await client.get(f"{agent.url}{route}", headers=admin_headers())
    if response.status_code != 200:
        raise BenchError(f"GET {route}: HTTP {response.status_code}: {response.text[:200]}")
    body = response.json()
    item = body["items"][0] if "items" in body else body
    if len(item["recent_slots"]) != WINDOW_SLOTS:
        raise BenchError(f"GET {route}: {len(item['recent_slots'])} slots, not {WINDOW_SLOTS}")
    if "items" not in body and len(body["events"]) != EVENTS_LIMIT_DEFAULT:
        raise BenchError(f"GET {route}: {len(body['events'])} events, not {EVENTS_LIMIT_DEFAULT}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def print_table(runs: Sequence[Run]) -> None:
    print()
    header = (
        f"{'route':<6}  {'conns':>5}  {'secs':>5}  {'answers':>7}  {'req/s':>7}  {'p50':>10}"
        f"  {'p99':>10}  {'max':>10}  {'errors':>6}  {'answer':>9}  {'agent CPU':>9}"
        f"  {'bench CPU':>9}  verdict"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        latencies = run.load.latencies
        p99 = percentile(latencies, 0.99)
        verdict = "(no load)"
        if run.connections > 1:
            verdict = f"{'OK' if p99 <= TARGET_P99_SECS else 'MISSED'} (p99 ≤ 25 ms)"
        answer_kib = run.load.answer_bytes / 1024
        agent_cpu = 100 * run.agent_cpu_secs / run.secs
        bench_cpu = 100 * run.bench_cpu_secs / run.secs
        print(
            f"{run.route:<6}  {run.connections:>5}  {run.secs:>5.1f}  {len(latencies):>7}"
            f"  {run.per_sec:>7.1f}  {ms(statistics.median(latencies))}  {ms(p99)}"
            f"  {ms(max(latencies))}  {run.load.errors:>6}  {answer_kib:>5.1f} KiB"
            f"  {agent_cpu:>7.0f} %  {bench_cpu:>7.0f} %  {verdict}"
        )
        if run.load.first_error:
            print(f"        first error: {run.load.first_error}")
        if run.load.reconnects:
            print(f"        keep-alive connections the agent ended: {run.load.reconnects}")
    print()
    print("CPU is the share of one core over the run; the agent serves on one thread.")
    for run in runs:
        if run.connections > 1:
            needed = run.connections / TARGET_P99_SECS
            print(
                f"{run.route}: {run.connections} connections within 25 ms need about"
                f" {needed:,.0f} answers per second; measured {run.per_sec:,.0f}."
            )


async def run(args: argparse.Namespace, directory: Path) -> None:
    data_dir = directory / "data"
    size = prefill(data_dir, datetime.now(UTC))
    print(f"state file: {WINDOW_SLOTS} slots, 2000 events, {size / 1024:.1f} KiB")
    port = free_port()
    routes = {
        "detail": f"/api/admin/nodes/{NODE_ID}/runtime",
        "list": "/api/admin/nodes/runtime",
    }
    runs = []
    log_path = directory / "agent.log"
    with running_xray_api() as xray:
        env = {"XP_NODE_ID": NODE_ID, "XP_DATA_DIR": str(data_dir), "XP_XRAY_API_ADDR": xray.addr}
        async with (
            httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(10.0)) as client,
            open_agent(env, port=port, log_path=log_path, client=client) as agent,
        ):
            print(f"agent pid {agent.pid} on {agent.url}", flush=True)
            for route, target in routes.items():
                await check_first_answer(client, agent, target)
                for connections, secs in ((1, SERVICE_TIME_SECS), (args.connections, args.secs)):
                    result = await measure(agent, port, route, target, connections, secs)
                    runs.append(result)
                    print(
                        f"{route}, {connections} connections: {result.per_sec:.1f} req/s,"
                        f" p99 {percentile(result.load.latencies, 0.99) * 1000:.1f} ms",
                        flush=True,
                    )
    print_table(runs)
    for problem in agent_log_problems(log_path):
        print(f"agent log: {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Throughput and latency of the runtime routes.")
    parser.add_argument("--secs", type=float, default=20.0, help="seconds per loaded run (20)")
    parser.add_argument("--connections", type=int, default=64, help="connections (64)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 s per loaded run")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary files go")
    args = parser.parse_args()
    if args.quick:
        args.secs = 10.0
    if not 0 < args.secs <= 600 or not 2 <= args.connections <= 1000:
        parser.error("--secs must be in (0, 600] and --connections in 2..=1000")
    run_bench("runtime_load", args.dir, run, args)


if __name__ == "__main__":
    main()
