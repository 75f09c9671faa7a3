"""How long the aggregated runtime list takes when some nodes of the cluster never answer.

One real agent (`python -m xpagent run`, a subprocess, so the bench process's work
is not on its CPU) with a cluster file of 20 nodes: itself and 19 peers, of which
k ∈ {0, 1, 5, 10} never answer (TCP listeners that accept and stay silent; the
tests' `serve_silent_tcp`) and the rest are cheap fake peers: one hypercorn server
each in the bench process, checking the internal signature and answering the
internal detail route with a full 7-day window (`_support.full_runtime`,
rebased to now, with the peer's id), serialised once per peer.

For each fan-out deadline (`XP_RUNTIME_FANOUT_TIMEOUT_SECS`, 1 s and 2 s) and each
k, a fresh agent gets one warm-up request then `--requests` sequential
`GET /api/admin/nodes/runtime` with the admin token. The table shows the first
(cold: no pooled connections yet) and the median and maximum of the others, how
many nodes each answer listed unreachable and how many were partial, against the
target (deadline + 0.3 s) and against what asking the nodes one after the other
would need (k × deadline).

Run it from the project root, with the dev extras installed (grpcio, for the
simulated xray of the agent itself):

    .venv/bin/python bench/fanout_latency.py [--requests 10] [--timeouts 1 2]
        [--dead 0 1 5 10] [--quick] [--dir DIR]

`--quick` is a smoke run: deadline 1 s, k ∈ {0, 5}, 3 requests each. Everything
listens on and talks to 127.0.0.1. The exit status is non-zero only when the bench
could not run (the agent did not start or did not stop cleanly, a request failed);
a missed target is printed, not an error.

The agent is started and stopped by `_support.open_agent`, as in the other benches.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs
import httpx
import hypercorn.config
import hypercorn.trio
import trio
from _support import (
    BenchError,
    admin_headers,
    agent_log_problems,
    free_port,
    full_runtime,
    open_agent,
    run_bench,
    running_xray_api,
    serve_silent_tcp,
)
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from xpagent.api import LOCAL_DETAIL_PATH, SIGNATURE_HEADER, SignatureError, verify
from xpagent.core import runtime_detail, to_json_value
from xpagent.demo._asgi import serve_lifespan

SECRET = b"bench-cluster-secret-0123456789abcdef"
SELF_ID = "bench-self"
CLUSTER_SIZE = 20
#: CONTRACT §3 asks for "the deadline plus a small margin"; this is the margin we hold it to.
MARGIN_SECS = 0.3


# --- fake peers -----------------------------------------------------------------------


class FakePeer:
    """An ASGI node that answers only the signed internal detail route.

    Its detail is a full 7-day window with the peer's own id, serialised once per
    `events_limit`, so serving it costs the bench process little.
    """

    def __init__(self, node_id: str, now: datetime) -> None:
        self.node_id = node_id
        self.node_name = f"Peer {node_id}"
        self._now = now
        self._bodies: dict[int, bytes] = {}
        self.refused = 0

    def body(self, events_limit: int) -> bytes:
        if events_limit not in self._bodies:
            runtime = attrs.evolve(full_runtime(self._now), node_id=self.node_id)
            detail = runtime_detail(runtime, self.node_name, self._now, events_limit=events_limit)
            self._bodies[events_limit] = json.dumps(to_json_value(detail)).encode()
        return self._bodies[events_limit]

    def _answer(self, scope: Scope) -> tuple[int, bytes]:
        if scope["type"] != "http":
            return 404, b""
        target = scope["raw_path"].decode("latin-1")
        query = scope["query_string"].decode("latin-1")
        if query:
            target += "?" + query
        headers = {name.decode("latin-1").lower(): value for name, value in scope["headers"]}
        header = headers.get(SIGNATURE_HEADER.lower())
        try:
            verify(
                SECRET,
                header.decode("latin-1") if header is not None else None,
                "GET",
                target,
                now_ts=int(time.time()),
            )
        except SignatureError as exc:
            self.refused += 1
            return 401, json.dumps(
                {"error": {"code": "unauthorized", "message": str(exc)}}
            ).encode()
        limit = query.removeprefix("events_limit=")
        if scope["path"] != LOCAL_DETAIL_PATH or not limit.isdigit():
            return 404, b'{"error": {"code": "not_found", "message": "no such route"}}'
        return 200, self.body(int(limit))

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        status, body = self._answer(scope)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def serve_peer(
    peer: FakePeer, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve `peer` with hypercorn on a free loopback port; `started` gets its base URL."""
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(hypercorn.trio.serve, mode="asgi"), peer, config
        )
        task_status.started(binds[0])


# --- the measurement ------------------------------------------------------------------


@attrs.frozen
class ListAnswer:
    seconds: float
    partial: bool
    unreachable: frozenset[str]
    errors: Mapping[str, str]  # node_id → error, for every unreachable node


@attrs.frozen
class Row:
    timeout_secs: int
    dead: int
    first: ListAnswer
    answers: tuple[ListAnswer, ...]

    @property
    def target_secs(self) -> float:
        return self.timeout_secs + MARGIN_SECS

    @property
    def worst_secs(self) -> float:
        return max(answer.seconds for answer in (self.first, *self.answers))


def peer_id(index: int) -> str:
    return f"peer-{index + 1:02d}"


def write_cluster_file(
    path: Path, self_url: str, peer_urls: Sequence[str], silent_addrs: Sequence[str], dead: int
) -> frozenset[str]:
    """Self first, then 19 peers of which the first `dead` point at silent listeners;
    the ids of those."""
    entries = [(SELF_ID, self_url)]
    for index, url in enumerate(peer_urls):
        entries.append((peer_id(index), f"http://{silent_addrs[index]}" if index < dead else url))
    path.write_text(
        "".join(
            f'[[nodes]]\nnode_id = "{node_id}"\nnode_name = "Node {node_id}"\n'
            f'api_base_url = "{url}"\n\n'
            for node_id, url in entries
        )
    )
    return frozenset(peer_id(index) for index in range(dead))


async def ask_list(client: httpx.AsyncClient, url: str) -> ListAnswer:
    started = time.perf_counter()
    response = await client.get(f"{url}/api/admin/nodes/runtime", headers=admin_headers())
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise BenchError(f"GET /api/admin/nodes/runtime: HTTP {response.status_code}")
    body = response.json()
    if len(body["items"]) != CLUSTER_SIZE:
        raise BenchError(f"the list holds {len(body['items'])} items, not {CLUSTER_SIZE}")
    errors = {item["node_id"]: item["error"] for item in body["items"] if "error" in item}
    return ListAnswer(seconds, body["partial"], frozenset(body["unreachable_nodes"]), errors)


async def measure(
    args: argparse.Namespace,
    directory: Path,
    client: httpx.AsyncClient,
    *,
    xray_addr: str,
    peer_urls: Sequence[str],
    silent_addrs: Sequence[str],
    timeout_secs: int,
    dead: int,
) -> Row:
    run_dir = directory / f"timeout-{timeout_secs}-dead-{dead}"
    run_dir.mkdir()
    port = free_port()
    expected_dead = write_cluster_file(
        run_dir / "cluster.toml", f"http://127.0.0.1:{port}", peer_urls, silent_addrs, dead
    )
    env = {
        "XP_NODE_ID": SELF_ID,
        "XP_DATA_DIR": str(run_dir / "data"),
        "XP_CLUSTER_FILE": str(run_dir / "cluster.toml"),
        "XP_CLUSTER_SECRET_FILE": str(directory / "secret"),
        "XP_XRAY_API_ADDR": xray_addr,
        "XP_RUNTIME_FANOUT_TIMEOUT_SECS": str(timeout_secs),
    }
    async with open_agent(env, port=port, log_path=run_dir / "agent.log", client=client) as agent:
        print(f"deadline {timeout_secs} s, k={dead}: agent pid {agent.pid}", flush=True)
        url = f"http://127.0.0.1:{port}"
        first = await ask_list(client, url)
        answers = [await ask_list(client, url) for _ in range(args.requests)]
    for answer in (first, *answers):
        if answer.unreachable != expected_dead:
            unexpected = sorted(answer.unreachable ^ expected_dead)
            reasons = "; ".join(f"{n}: {answer.errors.get(n, 'answered')}" for n in unexpected)
            print(f"  ! timeout {timeout_secs} s, k={dead}: unexpected unreachable set ({reasons})")
    for problem in agent_log_problems(run_dir / "agent.log"):
        print(f"  agent log (timeout {timeout_secs} s, k={dead}): {problem}")
    return Row(timeout_secs, dead, first, tuple(answers))


def print_table(rows: Sequence[Row], requests: int) -> None:
    print()
    print(
        f"GET /api/admin/nodes/runtime, cluster of {CLUSTER_SIZE} (self + {CLUSTER_SIZE - 1}"
        f" peers, k silent), {requests} requests after one cold one"
    )
    header = (
        f"{'deadline':>8}  {'k':>2}  {'cold':>8}  {'median':>8}  {'max':>8}  "
        f"{'unreach.':>8}  {'partial':>7}  {'target':>8}  {'serial':>8}  verdict"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        seconds = [answer.seconds for answer in row.answers]
        unreachable = sorted({len(answer.unreachable) for answer in row.answers})
        shown = "-".join(str(count) for count in (unreachable[0], unreachable[-1]))
        if unreachable[0] == unreachable[-1]:
            shown = str(unreachable[0])
        partial = sum(answer.partial for answer in row.answers)
        verdict = "OK" if row.worst_secs <= row.target_secs else "MISSED"
        print(
            f"{row.timeout_secs:>6} s  {row.dead:>2}  {row.first.seconds:>6.3f} s"
            f"  {statistics.median(seconds):>6.3f} s  {max(seconds):>6.3f} s"
            f"  {shown:>8}  {partial:>3}/{len(row.answers):<3}"
            f"  ≤{row.target_secs:>5.2f} s  {row.dead * row.timeout_secs:>6.2f} s  {verdict}"
        )
    print()
    print("target: every answer (cold one included) within deadline + 0.3 s (CONTRACT §3);")
    print("serial: what asking the k silent nodes one after the other would need (k × deadline).")


async def run(args: argparse.Namespace, directory: Path) -> None:
    secret = directory / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    now = datetime.now(UTC)
    peers = [FakePeer(peer_id(index), now) for index in range(CLUSTER_SIZE - 1)]
    for peer in peers:
        peer.body(0)  # serialised before any agent asks
    rows = []
    with running_xray_api() as xray:
        async with (
            httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(30.0)) as client,
            trio.open_nursery() as nursery,
        ):
            peer_urls = [await nursery.start(serve_peer, peer) for peer in peers]
            silent_addrs = [await nursery.start(serve_silent_tcp) for _ in range(max(args.dead))]
            for timeout_secs in args.timeouts:
                for dead in args.dead:
                    row = await measure(
                        args,
                        directory,
                        client,
                        xray_addr=xray.addr,
                        peer_urls=peer_urls,
                        silent_addrs=silent_addrs,
                        timeout_secs=timeout_secs,
                        dead=dead,
                    )
                    rows.append(row)
                    print(
                        f"deadline {timeout_secs} s, k={dead}: median"
                        f" {statistics.median(a.seconds for a in row.answers):.3f} s",
                        flush=True,
                    )
            nursery.cancel_scope.cancel()
    refused = sum(peer.refused for peer in peers)
    if refused:
        print(f"! the fake peers refused {refused} requests for their signature")
    print_table(rows, args.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description="Latency of the aggregated runtime list.")
    parser.add_argument("--requests", type=int, default=10, help="requests per case (10)")
    parser.add_argument(
        "--timeouts", type=int, nargs="+", default=[1, 2], help="fan-out deadlines (1 2)"
    )
    parser.add_argument(
        "--dead", type=int, nargs="+", default=[0, 1, 5, 10], help="silent peers (0 1 5 10)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 s, k 0 and 5, 3 requests"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary files go")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.timeouts, args.dead = 3, [1], [0, 5]
    if not all(0 <= dead < CLUSTER_SIZE for dead in args.dead) or args.requests < 1:
        parser.error(f"--dead must be in 0..{CLUSTER_SIZE - 1} and --requests at least 1")
    run_bench("fanout_latency", args.dir, run, args)


if __name__ == "__main__":
    main()
