"""How long the aggregated runtime list takes when some nodes of the cluster never answer.

One real agent (`python -m xpagent run`, a subprocess, so the bench process's work
is not on its CPU) with a cluster file of 20 nodes: itself and 19 peers, of which
k ∈ {0, 1, 5, 10} never answer (TCP listeners that accept and stay silent; the
tests' `serve_silent_tcp`) and the rest are cheap fake peers: one hypercorn server
each in the bench process, checking the internal signature and answering the
internal detail route with a full 7-day window (built as in `bench/state_file.py`,
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

The other benches import the agent launcher from here (`open_agent`), and
`percentile`, so all three start and stop the agent the same way.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import httpx
import hypercorn.config
import hypercorn.trio
import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

# The project root, for `tests.*`; this directory is on sys.path already (it holds
# the script), which is how `state_file` is found.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import state_file

from tests.grpc_xray import running_xray_api, serve_silent_tcp
from tests.servers import free_port
from xpagent.api import SIGNATURE_HEADER, SignatureError, first_leaf, verify
from xpagent.api._fanout import LOCAL_DETAIL_PATH
from xpagent.core import runtime_detail, to_json_value
from xpagent.demo._asgi import serve_lifespan

__all__ = [
    "TOKEN",
    "Agent",
    "BenchError",
    "admin_headers",
    "agent_log_problems",
    "open_agent",
    "percentile",
]

TOKEN = "bench-admin-token"
SECRET = b"bench-cluster-secret-0123456789abcdef"
SELF_ID = "bench-self"
CLUSTER_SIZE = 20
#: CONTRACT §3 asks for "the deadline plus a small margin"; this is the margin we hold it to.
MARGIN_SECS = 0.3
STARTUP_DEADLINE_SECS = 60.0
#: CONTRACT §5: after SIGTERM the process exits 0 within 5 s.
STOP_DEADLINE_SECS = 5.0
HEALTH_POLL_SECS = 0.05
#: Proxy variables would send the agent's loopback traffic elsewhere; the agent gets none.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class BenchError(Exception):
    """The bench could not run its scenario (a missed target is not one of these)."""


# --- the agent under test, as a subprocess --------------------------------------------


@attrs.frozen
class Agent:
    """An `xpagent run` subprocess serving on `url`."""

    process: trio.Process
    url: str
    node_id: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _log_tail(log_path: Path, lines: int = 20) -> str:
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


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


async def _wait_until_serving(agent: Agent, client: httpx.AsyncClient) -> None:
    with trio.move_on_after(STARTUP_DEADLINE_SECS):
        while True:
            if agent.process.poll() is not None:
                raise BenchError(
                    f"the agent exited with {agent.process.returncode} before serving:\n"
                    f"{_log_tail(agent.log_path)}"
                )
            try:
                response = await client.get(f"{agent.url}/api/health", timeout=1.0)
            except httpx.TransportError:
                pass  # not listening yet
            else:
                if response.status_code == 200:
                    return
            await trio.sleep(HEALTH_POLL_SECS)
    raise BenchError(f"the agent did not answer /api/health within {STARTUP_DEADLINE_SECS:g} s")


async def _stop(process: trio.Process) -> tuple[int, float]:
    """SIGTERM, then the exit status and how long the exit took (killed after 3× deadline)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    with trio.move_on_after(3 * STOP_DEADLINE_SECS):
        return await process.wait(), time.monotonic() - started
    process.kill()
    await process.wait()
    return -signal.SIGKILL, time.monotonic() - started


@asynccontextmanager
async def open_agent(
    env: Mapping[str, str], *, port: int, log_path: Path, client: httpx.AsyncClient
) -> AsyncIterator[Agent]:
    """`python -m xpagent run` on 127.0.0.1:`port` with `env` (it must set XP_NODE_ID
    and XP_DATA_DIR; the admin token is `TOKEN`), logging JSON to `log_path`, ready
    to serve; stopped with SIGTERM at the end of the block. Raises BenchError if it
    does not start, or does not exit 0 within the contract's 5 s."""
    agent_env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("XP_") and name.lower() not in PROXY_VARIABLES
    }
    agent_env.update(
        XP_BIND=f"127.0.0.1:{port}",
        XP_ADMIN_TOKEN=TOKEN,
        XP_LOG_FORMAT="json",
        XP_LOG_LEVEL="info",
    )
    agent_env.update(env)
    with log_path.open("wb") as log:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "xpagent", "run"],
            env=agent_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    agent = Agent(process, f"http://127.0.0.1:{port}", agent_env["XP_NODE_ID"], log_path)
    try:
        await _wait_until_serving(agent, client)
        yield agent
    finally:
        with trio.CancelScope(shield=True):
            returncode, stop_secs = await _stop(process)
    if returncode != 0 or stop_secs > STOP_DEADLINE_SECS:
        raise BenchError(
            f"the agent exited with {returncode} {stop_secs:.2f} s after SIGTERM "
            f"(expected 0 within {STOP_DEADLINE_SECS:g} s):\n{_log_tail(log_path)}"
        )


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.99 for p99) of non-empty `samples`."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


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
            state_file.NOW = self._now
            runtime = attrs.evolve(state_file.full_runtime(), node_id=self.node_id)
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
        first = await ask_list(client, agent.url)
        answers = [await ask_list(client, agent.url) for _ in range(args.requests)]
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
    with tempfile.TemporaryDirectory(prefix="xpagent-fanout-", dir=args.dir) as directory:
        failure: BaseException | None = None
        try:
            trio.run(run, args, Path(directory))
        except* BenchError as group:
            failure = first_leaf(group)
    if failure is not None:
        sys.exit(f"fanout_latency: {failure}")


if __name__ == "__main__":
    main()
