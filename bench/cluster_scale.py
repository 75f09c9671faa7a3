"""The aggregated runtime list at cluster scale: N peers, one aggregator.

One helper process (this script with `--serve-peers`, started by the bench)
simulates N peers on N loopback ports: raw trio listeners speaking HTTP/1.1
through h11 (keep-alive), each port one node that checks the internal signature
and answers the internal detail route with a real body — 336 slots (one in seven
degraded for a while, different per peer) and three components, encoded by the
agent's own functions — and understands `slots_since`/`slots_digest` as the agent
does (its slot in progress grows between calls, so answers change). It gzips
answers when asked and counts the bytes it sends.

One real agent (`python -m xpagent run`, started by `_support.open_agent`) has a
cluster file of itself and the N peers. For N in 20, 100, 500, 1000 the bench
asks it for `GET /api/admin/nodes/runtime` as a browser does (gzip accepted):
one cold call (nothing cached, no pooled connection), then warm calls, and
prints per N:

- list latency cold, and warm (median of 5);
- the aggregator's CPU seconds per warm call (utime + stime from /proc);
- bytes the peers sent per warm call, in all and per peer (HTTP heads included);
- bytes of the list answer with gzip and without (one call with
  `Accept-Encoding: identity`);
- the aggregator's RSS after 20 calls.

Targets (issue 11): at 500 peers warm ≤ 0.5 s median, ≤ 0.25 s CPU a call,
≤ 4 KiB from each peer a call, answer ≤ 2 MiB gzipped, cold ≤ 2 s, RSS ≤ 100 MiB;
at 20 peers no slower than 0.06 s.

Linux only (/proc). Run it from the project root, with the dev extras installed:

    .venv/bin/python bench/cluster_scale.py [--sizes 20 100 500 1000] [--quick] [--dir DIR]

`--quick` is a smoke run: N = 20 and 100. The exit status is non-zero only when
the bench could not run; a missed target is printed, not an error.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import attrs
import h11
import httpx
import trio
from _support import (
    BenchError,
    admin_headers,
    agent_log_problems,
    bench_slot,
    cpu_secs,
    free_port,
    open_agent,
    rss_bytes,
    run_bench,
    running_xray_api,
)

from xpagent.api import LOCAL_DETAIL_PATH, SIGNATURE_HEADER, SignatureError, verify
from xpagent.api._relayed import head_text, slot_prefix, slot_tail
from xpagent.api._slot_cache import answered_slots, epoch_of
from xpagent.core import (
    SLOT_LENGTH,
    SLOT_SECS,
    WINDOW_SLOTS,
    Component,
    ComponentState,
    ComponentStatus,
    RuntimeItem,
    Slot,
    Summary,
    parse_time,
    window_start_of,
)

SECRET = b"bench-cluster-secret-0123456789abcdef"
SELF_ID = "scale-self"
SIZES = (20, 100, 500, 1000)
WARM_CALLS = 5
RSS_CALLS = 20
MIB = 1024 * 1024


# --- the simulated peers (the helper process) -------------------------------------------


class SimulatedPeer:
    """One node's detail, encoded once per slot; the slot in progress is re-encoded per
    answer with the seconds observed so far."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.node_id = f"peer-{index:04d}"
        components = tuple(
            ComponentState(component, status=ComponentStatus.UP, consecutive_failures=0)
            for component in (Component.XP, Component.XRAY, Component.CLOUDFLARED)
        )
        item = RuntimeItem(self.node_id, f"Peer {index}", Summary.UP, components, ())
        self.head = head_text(item)
        self._window: tuple[int, list[str]] | None = None

    def _slot(self, start: datetime, observed: int) -> Slot:
        # Each peer's trouble falls on other slots and lasts its own time.
        troubled = (epoch_of(start) // SLOT_SECS + self.index) % 7 == 3
        return bench_slot(start, observed, down_secs=60 + self.index % 97 if troubled else None)

    def texts(self, now: datetime) -> tuple[int, list[str]]:
        """The window at `now` as slot texts (its first start, the texts)."""
        first = window_start_of(now)
        if self._window is None or self._window[0] != epoch_of(first):
            texts = []
            for index in range(WINDOW_SLOTS - 1):
                start = first + index * SLOT_LENGTH
                texts.append(slot_prefix(epoch_of(start)) + slot_tail(self._slot(start, SLOT_SECS)))
            self._window = (epoch_of(first), [*texts, ""])
        current = first + (WINDOW_SLOTS - 1) * SLOT_LENGTH
        observed = int((now - current).total_seconds())
        texts = self._window[1]
        texts[-1] = slot_prefix(epoch_of(current)) + slot_tail(self._slot(current, observed))
        return self._window[0], texts

    def body(self, params: dict[str, str], now: datetime) -> bytes:
        first, texts = self.texts(now)
        selected: list[str] | None = None
        if "slots_since" in params:
            since = epoch_of(parse_time(params["slots_since"]))
            selected = answered_slots(texts, first, since=since, digest=params.get("slots_digest"))
        if selected is None:
            return f'{self.head},"recent_slots":[{",".join(texts)}],"events":[]}}'.encode()
        since_text = json.dumps(params["slots_since"])
        return (
            f'{self.head},"recent_slots":[{",".join(selected)}],"events":[],'
            f'"slots_since":{since_text}}}'
        ).encode()


@attrs.define
class PeerCounters:
    requests: int = 0
    bytes_sent: int = 0
    refused: int = 0


def _answer(
    peer: SimulatedPeer, request: h11.Request, counters: PeerCounters
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    target = request.target.decode("latin-1")
    headers = {name.decode().lower(): value.decode("latin-1") for name, value in request.headers}
    try:
        verify(
            SECRET, headers.get(SIGNATURE_HEADER.lower()), "GET", target, now_ts=int(time.time())
        )
    except SignatureError as exc:
        counters.refused += 1
        body = json.dumps({"error": {"code": "unauthorized", "message": str(exc)}}).encode()
        return 401, [(b"content-type", b"application/json")], body
    path, _, query = target.partition("?")
    if path != LOCAL_DETAIL_PATH:
        return 404, [(b"content-type", b"application/json")], b'{"error":{"code":"not_found"}}'
    params = {name: values[0] for name, values in parse_qs(query).items()}
    body = peer.body(params, datetime.now(UTC))
    response_headers = [(b"content-type", b"application/json")]
    if "gzip" in headers.get("accept-encoding", "") and len(body) >= 1024:
        body = gzip.compress(body, compresslevel=6, mtime=0)
        response_headers.append((b"content-encoding", b"gzip"))
    return 200, response_headers, body


async def _serve_connection(
    peers: dict[int, SimulatedPeer], counters: PeerCounters, stream: trio.SocketStream
) -> None:
    peer = peers[stream.socket.getsockname()[1]]
    connection = h11.Connection(h11.SERVER)
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return
                connection.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                status, headers, body = _answer(peer, event, counters)
                headers.append((b"content-length", str(len(body)).encode()))
                out = connection.send(h11.Response(status_code=status, headers=headers))
                out = (out or b"") + (connection.send(h11.Data(data=body)) or b"")
                out += connection.send(h11.EndOfMessage()) or b""
                counters.requests += 1
                counters.bytes_sent += len(out)
                await stream.send_all(out)
            elif isinstance(event, h11.EndOfMessage):
                connection.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                if connection.our_state is h11.DONE and connection.their_state is h11.DONE:
                    connection.start_next_cycle()
                    continue
                return
    except (trio.BrokenResourceError, h11.RemoteProtocolError, ConnectionError):
        return


async def serve_peers(count: int) -> None:
    """The helper process: `count` peers; prints their ports as one JSON line, then
    answers `stats` on stdin with the counters (one JSON line) until stdin closes."""
    listeners = []
    peers: dict[int, SimulatedPeer] = {}
    for index in range(count):
        [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listener.socket.getsockname()[1]
        peers[port] = SimulatedPeer(index)
        listeners.append(listener)
    now = datetime.now(UTC)
    for peer in peers.values():
        peer.texts(now)
    counters = PeerCounters()
    stdin = trio.lowlevel.FdStream(0)
    stdout = trio.lowlevel.FdStream(1)
    async with trio.open_nursery() as nursery:
        handler = functools.partial(_serve_connection, peers, counters)
        nursery.start_soon(trio.serve_listeners, handler, listeners)
        ports = list(peers)
        await stdout.send_all((json.dumps({"ports": ports}) + "\n").encode())
        buffered = b""
        while True:
            data = await stdin.receive_some(1024)
            if not data:
                break
            buffered += data
            while b"\n" in buffered:
                _line, buffered = buffered.split(b"\n", 1)
                line = json.dumps(attrs.asdict(counters)) + "\n"
                await stdout.send_all(line.encode())
        nursery.cancel_scope.cancel()


# --- the measurement -------------------------------------------------------------------


class PeerProcess:
    """The helper process, seen from the bench: its ports and its counters."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        assert process.stdin is not None
        assert process.stdout is not None
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._buffer = b""

    async def line(self) -> dict[str, object]:
        while b"\n" not in self._buffer:
            data = await self._stdout.receive_some(65536)
            if not data:
                raise BenchError("the peers' helper process exited")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        value: dict[str, object] = json.loads(line)
        return value

    async def counters(self) -> PeerCounters:
        await self._stdin.send_all(b"stats\n")
        data = await self.line()
        return PeerCounters(**data)  # type: ignore[arg-type]


@attrs.frozen
class Row:
    size: int
    cold_secs: float
    warm_secs: float
    cpu_per_call: float
    peer_bytes_per_call: float
    gzip_bytes: int
    plain_bytes: int
    rss_bytes: int
    partial_calls: int


def write_cluster_file(path: Path, self_url: str, ports: Sequence[int]) -> None:
    entries = [(SELF_ID, "Aggregator", self_url)]
    entries += [
        (f"peer-{index:04d}", f"Peer {index}", f"http://127.0.0.1:{port}")
        for index, port in enumerate(ports)
    ]
    path.write_text(
        "".join(
            f'[[nodes]]\nnode_id = "{node_id}"\nnode_name = "{name}"\napi_base_url = "{url}"\n\n'
            for node_id, name, url in entries
        )
    )


async def list_call(client: httpx.AsyncClient, url: str, encoding: str) -> tuple[float, int, bool]:
    """One list call: seconds, bytes on the wire, partial."""
    headers = {**admin_headers(), "Accept-Encoding": encoding}
    started = time.perf_counter()
    async with client.stream("GET", f"{url}/api/admin/nodes/runtime", headers=headers) as answer:
        raw = b"".join([chunk async for chunk in answer.aiter_raw()])
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise BenchError(f"GET /api/admin/nodes/runtime: HTTP {answer.status_code}")
    text = gzip.decompress(raw) if answer.headers.get("content-encoding") == "gzip" else raw
    partial = bool(json.loads(text)["partial"])
    return seconds, len(raw), partial


async def measure(size: int, directory: Path, client: httpx.AsyncClient, xray_addr: str) -> Row:
    run_dir = directory / f"n-{size}"
    run_dir.mkdir()
    command = [sys.executable, __file__, "--serve-peers", str(size)]
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            functools.partial(trio.run_process, command, stdin=-1, stdout=-1, check=False)
        )
        helper = PeerProcess(process)
        ports = (await helper.line())["ports"]
        assert isinstance(ports, list)
        port = free_port()
        write_cluster_file(run_dir / "cluster.toml", f"http://127.0.0.1:{port}", ports)
        env = {
            "XP_NODE_ID": SELF_ID,
            "XP_DATA_DIR": str(run_dir / "data"),
            "XP_CLUSTER_FILE": str(run_dir / "cluster.toml"),
            "XP_CLUSTER_SECRET_FILE": str(directory / "secret"),
            "XP_XRAY_API_ADDR": xray_addr,
            "XP_RUNTIME_FANOUT_TIMEOUT_SECS": "10",
        }
        url = f"http://127.0.0.1:{port}"
        log = run_dir / "agent.log"
        async with open_agent(env, port=port, log_path=log, client=client) as agent:
            cold, _, cold_partial = await list_call(client, url, "gzip")
            partial = int(cold_partial)
            before_bytes = (await helper.counters()).bytes_sent
            before_cpu = cpu_secs(agent.pid)
            warm = []
            gzip_sizes = []
            for _ in range(WARM_CALLS):
                seconds, wire, was_partial = await list_call(client, url, "gzip")
                warm.append(seconds)
                gzip_sizes.append(wire)
                partial += was_partial
            cpu = (cpu_secs(agent.pid) - before_cpu) / WARM_CALLS
            peer_bytes = ((await helper.counters()).bytes_sent - before_bytes) / WARM_CALLS
            _, plain_size, was_partial = await list_call(client, url, "identity")
            partial += was_partial
            for _ in range(RSS_CALLS - WARM_CALLS - 2):
                partial += (await list_call(client, url, "gzip"))[2]
            rss = rss_bytes(agent.pid)
        refused = (await helper.counters()).refused
        await process.stdin.aclose()  # type: ignore[union-attr]
        nursery.cancel_scope.cancel()
    if refused:
        print(f"  ! the peers refused {refused} requests for their signature")
    for problem in agent_log_problems(log):
        print(f"  agent log (N={size}): {problem}")
    return Row(
        size,
        cold,
        statistics.median(warm),
        cpu,
        peer_bytes,
        int(statistics.median(gzip_sizes)),
        plain_size,
        rss,
        partial,
    )


def print_table(rows: Sequence[Row]) -> None:
    print()
    print(
        f"GET /api/admin/nodes/runtime, one aggregator, N simulated peers; warm = median of "
        f"{WARM_CALLS}, RSS after {RSS_CALLS} calls"
    )
    header = (
        f"{'N':>5}  {'cold':>7}  {'warm':>7}  {'CPU/call':>8}  {'peers→agg':>10}  "
        f"{'per peer':>8}  {'gzip':>9}  {'plain':>9}  {'RSS':>8}  partial"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.size:>5}  {row.cold_secs:>5.3f} s  {row.warm_secs:>5.3f} s  "
            f"{row.cpu_per_call:>6.3f} s  {row.peer_bytes_per_call / 1024:>7.1f} KiB  "
            f"{row.peer_bytes_per_call / row.size:>6.0f} B  "
            f"{row.gzip_bytes / MIB:>5.2f} MiB  {row.plain_bytes / MIB:>5.1f} MiB  "
            f"{row.rss_bytes / MIB:>4.0f} MiB  {row.partial_calls}"
        )
    print()
    print("targets at 500: warm ≤ 0.5 s, CPU ≤ 0.25 s/call, ≤ 4 KiB per peer, gzip ≤ 2 MiB,")
    print("                cold ≤ 2 s, RSS ≤ 100 MiB; at 20: warm ≤ 0.06 s")
    for row in rows:
        if row.size != 500:
            continue
        checks = {
            "warm": row.warm_secs <= 0.5,
            "CPU": row.cpu_per_call <= 0.25,
            "per peer": row.peer_bytes_per_call / row.size <= 4096,
            "gzip": row.gzip_bytes <= 2 * MIB,
            "cold": row.cold_secs <= 2,
            "RSS": row.rss_bytes <= 100 * MIB,
        }
        missed = [name for name, ok in checks.items() if not ok]
        print("500 peers:", "all targets met" if not missed else f"MISSED {', '.join(missed)}")


async def run(sizes: Sequence[int], directory: Path) -> None:
    secret = directory / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    rows = []
    with running_xray_api() as xray:
        async with httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(60.0)) as client:
            for size in sizes:
                row = await measure(size, directory, client, xray.addr)
                rows.append(row)
                print(
                    f"N={size}: cold {row.cold_secs:.3f} s, warm {row.warm_secs:.3f} s, "
                    f"CPU {row.cpu_per_call:.3f} s/call",
                    flush=True,
                )
    print_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="The aggregated list at cluster scale.")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 20 and 100")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary files go")
    parser.add_argument("--serve-peers", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_peers is not None:
        trio.run(serve_peers, args.serve_peers)
        return
    sizes = [20, 100] if args.quick else args.sizes
    run_bench("cluster_scale", args.dir, run, sizes)


if __name__ == "__main__":
    main()
