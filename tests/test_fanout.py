"""The signed, concurrent fan-out to other nodes, against real servers on loopback."""

from __future__ import annotations

import gzip
import json
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import attrs
import httpx
import pytest
import trio
import trio.testing
import trustme

from tests.grpc_xray import serve_silent_tcp
from tests.servers import free_port, serve_asgi
from xpagent.api import (
    LOCAL_DETAIL_PATH,
    RemoteBadAnswer,
    RemoteConnectionError,
    RemoteNodeError,
    RemoteStatusError,
    RemoteTimeout,
    RemoteTLSError,
)
from xpagent.api._fanout import MAX_ANSWER_BYTES, ClusterClient, RelayedRow
from xpagent.api._signature import SIGNATURE_HEADER, SignatureError, verify
from xpagent.api._slot_cache import detail_since_json, epoch_of
from xpagent.core import (
    WINDOW_SLOTS,
    Component,
    ComponentStatus,
    NodeRuntime,
    ProbeResult,
    RuntimeDetail,
    Summary,
    aligned_slots,
    parse_time,
    runtime_detail,
    to_json_value,
)
from xpagent.daemon._settings import ClusterNode
from xpagent.demo._asgi import serve_lifespan

KEY = b"cluster-secret-" * 3
TIMEOUT_SECS = 1.0
T0 = datetime(2026, 11, 28, 10, 40, tzinfo=UTC)


@attrs.define
class ManualClock:
    """A wall clock that moves only when told (the client and the peers share it)."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


def peer_runtime(node_id: str, now: datetime) -> NodeRuntime:
    """A node that has run for three hours and had a 20-minute xray outage an hour ago."""
    start = now - timedelta(hours=3)
    runtime = NodeRuntime.new(node_id, enabled={Component.XRAY})
    runtime = runtime.started(start, enabled={Component.XRAY}, previous=None).runtime
    probes = [(1, ProbeResult.success())]
    probes += [(minute, ProbeResult.failure("connection refused")) for minute in (100, 101, 102)]
    probes += [(122, ProbeResult.success())]
    for minute, result in probes:
        at = start + timedelta(minutes=minute)
        runtime = runtime.probed(Component.XRAY, result, at, fails_before_down=3).runtime
    return runtime.ticked(now)


# --- peers ---------------------------------------------------------------------------


@attrs.define
class Peer:
    """A tiny ASGI node serving `GET .../_internal/nodes/runtime/local`.

    It checks the signature of every request against the raw request target it
    received (answering 401 with the reason when it is wrong), so a good answer
    proves the client signed exactly what it sent. `answer` decides what a
    correctly signed request gets: `detail` (only the slots since `slots_since`
    when asked and the digest matches, as the agent's route answers), `detail,
    ignoring slots_since` (an older node), or one of the failure modes. `gate`,
    when set, holds every answer until it is set; `gzip` compresses the answers;
    `answers` records each body sent.
    """

    node_id: str
    clock: ManualClock
    key: bytes = KEY
    answer: str = "detail"
    answered_node_id: str | None = None
    gate: trio.Event | None = None
    gzip: bool = False
    targets: list[str] = attrs.Factory(list)
    answers: list[bytes] = attrs.Factory(list)
    runtime: NodeRuntime = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.runtime = peer_runtime(self.answered_node_id or self.node_id, self.clock())

    def detail(self, events_limit: int) -> RuntimeDetail:
        name = f"name of {self.node_id}"
        return runtime_detail(self.runtime, name, self.clock(), events_limit=events_limit)

    def detail_body(
        self, events_limit: int, since: str | None = None, digest: str | None = None
    ) -> bytes:
        if since is not None and self.answer == "detail":
            answer = detail_since_json(
                self.runtime,
                f"name of {self.node_id}",
                self.clock(),
                events_limit=events_limit,
                since=epoch_of(parse_time(since)),
                digest=digest,
            )
            if answer is not None:
                return answer.encode()
        detail = self.detail(events_limit)
        return json.dumps(to_json_value(detail)).encode()

    @property
    def incremental_answers(self) -> int:
        """How many answers held only the slots since a time."""
        return sum(b'"slots_since"' in body for body in self.answers)

    def respond(self, target: str, headers: dict[str, str]) -> tuple[int, bytes, bool]:
        """Status, body and whether to send it chunked (without a content-length)."""
        try:
            verify(
                self.key,
                headers.get(SIGNATURE_HEADER.lower()),
                "GET",
                target,
                now_ts=int(self.clock().timestamp()),
            )
        except SignatureError as exc:
            return 401, error_body("unauthorized", str(exc)), False
        path, _, query = target.partition("?")
        if not path.endswith(LOCAL_DETAIL_PATH):
            return 404, error_body("not_found", "no such route"), False
        params = {name: values[0] for name, values in parse_qs(query).items()}
        match self.answer:
            case "detail" | "detail, ignoring slots_since":
                body = self.detail_body(
                    int(params["events_limit"]),
                    params.get("slots_since"),
                    params.get("slots_digest"),
                )
                return 200, body, False
            case "error 500":
                return 500, error_body("internal", "disk on fire\n  (again)"), False
            case "html 502":
                return 502, b"<html><body>Bad gateway</body></html>", False
            case "garbage":
                return 200, b"<html>hello</html>", False
            case "wrong shape":
                return 200, b'{"items": []}', False
            case "too large":
                return 200, b" " * (MAX_ANSWER_BYTES + 1), False
            case "too large, chunked":
                return 200, b" " * (MAX_ANSWER_BYTES + 1), True
        raise AssertionError(self.answer)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        self.targets.append(target)
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        if self.gate is not None:
            await self.gate.wait()
        status, body, chunked = self.respond(target, headers)
        self.answers.append(body)
        response_headers = [(b"content-type", b"application/json")]
        if self.gzip and status == 200 and not chunked:
            body = gzip.compress(body)
            response_headers.append((b"content-encoding", b"gzip"))
        if not chunked:
            response_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        if chunked:
            for offset in range(0, len(body), 1 << 20):
                chunk = body[offset : offset + (1 << 20)]
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        else:
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def tls_files(ca: trustme.CA, directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate chain for 127.0.0.1 issued by `ca`, and its key."""
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = directory / f"{name}.crt", directory / f"{name}.key"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    return certfile, keyfile


def node(node_id: str, url: str) -> ClusterNode:
    return ClusterNode(node_id=node_id, node_name=f"name of {node_id}", api_base_url=url)


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def trusted_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def http_client(trusted_ca: trustme.CA) -> AsyncIterator[httpx.AsyncClient]:
    """Like the daemon's one client: trusts the cluster CA only, same timeout as the fan-out."""
    context = ssl.create_default_context()
    trusted_ca.configure_trust(context)
    async with httpx.AsyncClient(
        verify=context, trust_env=False, timeout=httpx.Timeout(TIMEOUT_SECS)
    ) as client:
        yield client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_client(http_client: httpx.AsyncClient, clock: ManualClock) -> Callable[..., ClusterClient]:
    def make(**overrides: Any) -> ClusterClient:
        options: dict[str, Any] = {"key": KEY, "timeout_secs": TIMEOUT_SECS, "clock": clock}
        return ClusterClient(http_client, **(options | overrides))

    return make


@pytest.fixture
def cluster(make_client: Callable[..., ClusterClient]) -> ClusterClient:
    return make_client()


# --- answers -------------------------------------------------------------------------


async def test_fetch_detail_reads_a_signed_answer(nursery, cluster, clock):
    """A node's detail arrives as it sent it, normalised; the peer verified the signature
    over the exact request target (path and query) the client sent."""
    peer = Peer("node-b", clock)
    url = await nursery.start(serve_asgi, peer)

    detail = await cluster.fetch_detail(node("node-b", url), events_limit=3)

    assert detail == peer.detail(events_limit=3)
    assert len(detail.recent_slots) == WINDOW_SLOTS
    assert len(detail.events) == 3
    assert peer.targets == [f"{LOCAL_DETAIL_PATH}?events_limit=3"]


async def test_the_signature_covers_a_base_url_path_prefix(nursery, cluster, clock):
    """Behind a path prefix (and with a trailing slash) the client signs the target it
    really sends, prefix included."""
    peer = Peer("node-b", clock)
    url = await nursery.start(serve_asgi, peer)

    detail = await cluster.fetch_detail(node("node-b", f"{url}/xp/"), events_limit=0)

    assert detail.node_id == "node-b"
    assert peer.targets == [f"/xp{LOCAL_DETAIL_PATH}?events_limit=0"]


async def test_fetch_items_asks_for_no_events(nursery, cluster, clock):
    """The list asks each node with events_limit=0 and gives its row, without `error`."""
    peer = Peer("node-b", clock)
    url = await nursery.start(serve_asgi, peer)

    [item] = await cluster.fetch_items([node("node-b", url)])

    assert item.error is None
    assert item.summary is Summary.UP
    assert len(item.recent_slots) == WINDOW_SLOTS
    assert any(slot.summary is Summary.DOWN for slot in item.recent_slots)
    assert peer.targets == [f"{LOCAL_DETAIL_PATH}?events_limit=0"]


async def test_a_trusted_tls_peer_answers(nursery, cluster, clock, trusted_ca, tmp_path):
    """An `https://` node with a certificate from the cluster CA is reachable."""
    tls = tls_files(trusted_ca, tmp_path, "trusted")
    url = await nursery.start(serve_asgi, Peer("node-b", clock), tls)
    assert url.startswith("https://")

    [item] = await cluster.fetch_items([node("node-b", url)])

    assert item.error is None


async def test_signed_headers_sign_with_the_clocks_time(cluster, clock):
    """`signed_headers` (reused by the SSE proxy) signs at the clock's current second."""
    target = "/api/admin/_internal/nodes/runtime/local/events?events_limit=5"
    clock.now = T0 + timedelta(seconds=0.9)

    headers = cluster.signed_headers("GET", target)

    assert set(headers) == {SIGNATURE_HEADER}
    assert headers[SIGNATURE_HEADER].startswith(f"v1:{int(T0.timestamp())}:")
    verify(KEY, headers[SIGNATURE_HEADER], "GET", target, now_ts=int(T0.timestamp()))


# --- unreachable nodes ---------------------------------------------------------------


@attrs.frozen
class Case:
    """How to set up a failing node, and the reason its row must show."""

    start: Callable[[trio.Nursery, ManualClock, Path], Any]
    reason: Callable[[str], bool]


def peer_with(answer: str = "detail", **options: Any) -> Callable[..., Any]:
    async def start(nursery: trio.Nursery, clock: ManualClock, _tmp: Path) -> str:
        peer = Peer("node-b", clock, answer=answer, **options)
        return str(await nursery.start(serve_asgi, peer))

    return start


async def silent_peer(nursery: trio.Nursery, _clock: ManualClock, _tmp: Path) -> str:
    return "http://" + str(await nursery.start(serve_silent_tcp))


async def refusing_peer(_nursery: trio.Nursery, _clock: ManualClock, _tmp: Path) -> str:
    return f"http://127.0.0.1:{free_port()}"


async def untrusted_tls_peer(nursery: trio.Nursery, clock: ManualClock, tmp: Path) -> str:
    tls = tls_files(trustme.CA(), tmp, "untrusted")
    return str(await nursery.start(serve_asgi, Peer("node-b", clock), tls))


def equals(expected: str) -> Callable[[str], bool]:
    return lambda reason: reason == expected


def starts_with(prefix: str) -> Callable[[str], bool]:
    return lambda reason: reason.startswith(prefix)


CASES = {
    "never answers": Case(silent_peer, equals("timed out after 1s")),
    "refuses connections": Case(refusing_peer, equals("connection refused")),
    "untrusted TLS certificate": Case(
        untrusted_tls_peer, starts_with("TLS certificate not trusted (")
    ),
    "answers 500 with an error body": Case(
        peer_with("error 500"), equals("HTTP 500: disk on fire (again)")
    ),
    "answers 502 with HTML": Case(peer_with("html 502"), equals("HTTP 502")),
    "refuses our signature": Case(
        peer_with(key=b"another-secret" * 3), equals("HTTP 401: signature does not match")
    ),
    "answers garbage": Case(peer_with("garbage"), equals("invalid answer: not JSON")),
    "answers the wrong JSON shape": Case(
        peer_with("wrong shape"),
        starts_with("invalid answer: required field missing @ $.node_id"),
    ),
    "answers for another node": Case(
        peer_with(answered_node_id="node-z"),
        equals("invalid answer: it comes from node 'node-z', not 'node-b'"),
    ),
    "answers too much": Case(peer_with("too large"), equals("answer too large (over 8 MiB)")),
    "streams too much": Case(
        peer_with("too large, chunked"), equals("answer too large (over 8 MiB)")
    ),
}


# httpx's response body is a chain of async generators; stopping early (as the size
# cap must) leaves the inner ones to the garbage collector, and trio warns about it
# (encode/httpx#3686, open in 0.28.1). The connection itself is closed by then.
HTTPX_3686 = pytest.mark.filterwarnings(
    "ignore:Exception ignored in:pytest.PytestUnraisableExceptionWarning"
)


def case_marks(name: str) -> list[pytest.MarkDecorator]:
    """The silent node waits out the real one-second deadline: slow."""
    return {"streams too much": [HTTPX_3686], "never answers": [pytest.mark.slow]}.get(name, [])


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, id=name, marks=case_marks(name)) for name, case in CASES.items()],
)
async def test_a_failing_node_is_unreachable_with_its_reason(
    nursery, cluster, clock, tmp_path, case
):
    """Each way a node can fail gives an unknown row with a readable reason, and
    fetch_detail raises the same reason."""
    url = await case.start(nursery, clock, tmp_path)
    target = node("node-b", url)

    [item] = await cluster.fetch_items([target])
    with pytest.raises(RemoteNodeError) as caught:
        await cluster.fetch_detail(target, events_limit=10)

    assert item.error is not None
    assert case.reason(item.error), item.error
    assert str(caught.value) == caught.value.reason == item.error
    assert (item.node_id, item.node_name) == ("node-b", "name of node-b")
    assert item.summary is Summary.UNKNOWN
    assert [state.status for state in item.components] == [ComponentStatus.UNKNOWN] * 3
    assert len(item.recent_slots) == WINDOW_SLOTS
    assert all(slot.summary is Summary.UNKNOWN for slot in item.recent_slots)


#: The kind of each failure: the API can tell a timeout from a refusal from a bad answer.
KINDS: dict[str, type[RemoteNodeError]] = {
    "never answers": RemoteTimeout,
    "refuses connections": RemoteConnectionError,
    "untrusted TLS certificate": RemoteTLSError,
    "answers 500 with an error body": RemoteStatusError,
    "answers 502 with HTML": RemoteStatusError,
    "refuses our signature": RemoteStatusError,
    "answers garbage": RemoteBadAnswer,
    "answers the wrong JSON shape": RemoteBadAnswer,
    "answers for another node": RemoteBadAnswer,
    "answers too much": RemoteBadAnswer,
    "streams too much": RemoteBadAnswer,
}


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=case_marks(name)) for name in CASES],
)
async def test_a_failing_node_raises_the_error_of_its_kind(nursery, cluster, clock, tmp_path, name):
    """fetch_detail raises the RemoteNodeError subclass of the failure's kind."""
    assert KINDS.keys() == CASES.keys()
    url = await CASES[name].start(nursery, clock, tmp_path)

    with pytest.raises(RemoteNodeError) as caught:
        await cluster.fetch_detail(node("node-b", url), events_limit=10)

    assert type(caught.value) is KINDS[name]
    if isinstance(caught.value, RemoteStatusError):
        assert caught.value.reason.startswith(f"HTTP {caught.value.status_code}")
    # The list says which kind too, next to the readable reason.
    [item] = await cluster.fetch_items([node("node-b", url)])
    assert item.error_kind == KINDS[name].kind


@pytest.mark.slow
@HTTPX_3686
async def test_all_failures_at_once_read_differently(nursery, cluster, clock, tmp_path):
    """Every failure mode at once, in one call: each row gets its own reason (the two
    size failures are one mode), and the call still ends at the deadline."""
    # All answer as node-b (ids need not be unique for this), so every case's reason holds.
    nodes = [node("node-b", await case.start(nursery, clock, tmp_path)) for case in CASES.values()]

    started = trio.current_time()
    items = await cluster.fetch_items(nodes)

    assert trio.current_time() - started <= TIMEOUT_SECS + 0.5
    reasons = [item.error for item in items]
    assert all(
        case.reason(reason or "") for case, reason in zip(CASES.values(), reasons, strict=True)
    ), reasons
    assert len(set(reasons)) == len(CASES) - 1


async def test_no_cluster_secret_means_unreachable(nursery, make_client, clock):
    """A node without a cluster secret cannot ask anyone, and says why."""
    url = await nursery.start(serve_asgi, Peer("node-b", clock))

    [item] = await make_client(key=None).fetch_items([node("node-b", url)])

    assert item.error == "this node has no cluster secret"


# --- one deadline for all --------------------------------------------------------------


@pytest.mark.slow
async def test_many_silent_nodes_cost_one_deadline(nursery, cluster, clock):
    """Five nodes that never answer and one that does, asked at once: the call returns
    within the deadline plus half a second, rows in the given order, the good one up."""
    silent = [str(await nursery.start(serve_silent_tcp)) for _ in range(5)]
    good = await nursery.start(serve_asgi, Peer("node-good", clock))
    nodes = [node(f"node-{index}", f"http://{addr}") for index, addr in enumerate(silent)]
    nodes.insert(2, node("node-good", good))

    started = trio.current_time()
    items = await cluster.fetch_items(nodes)
    elapsed = trio.current_time() - started

    assert elapsed <= TIMEOUT_SECS + 0.5
    assert [item.node_id for item in items] == [n.node_id for n in nodes]
    assert items[2].error is None
    assert [item.error for item in items if item.node_id != "node-good"] == [
        "timed out after 1s"
    ] * 5


@pytest.mark.slow
async def test_nodes_waiting_for_a_request_slot_say_so(nursery, make_client):
    """With the only request slot held by a silent node, the node never asked says it
    waited for a slot, and the call still ends at the deadline."""
    silent = [str(await nursery.start(serve_silent_tcp)) for _ in range(2)]
    cluster = make_client(max_concurrency=1)

    started = trio.current_time()
    items = await cluster.fetch_items(
        [node(f"node-{index}", f"http://{addr}") for index, addr in enumerate(silent)]
    )

    assert trio.current_time() - started <= TIMEOUT_SECS + 0.5
    # Which of the two gets the slot first is up to trio's scheduler.
    assert sorted(item.error or "" for item in items) == [
        "timed out after 1s",
        "timed out after 1s waiting for a free request slot (1 requests in flight)",
    ]


async def test_cancellation_from_outside_is_not_swallowed(nursery, cluster):
    """A caller's own deadline cancels the fan-out at once; no rows are made up."""
    silent = str(await nursery.start(serve_silent_tcp))

    with trio.move_on_after(0.1) as scope:
        await cluster.fetch_items([node("node-silent", f"http://{silent}")])

    assert scope.cancelled_caught


# --- remembered slots ----------------------------------------------------------------


@pytest.mark.parametrize("first", ["fetch_items", "fetch_detail"])
async def test_an_unreachable_node_keeps_the_slots_it_sent_last(nursery, cluster, clock, first):
    """A node that answered once and then fails shows its earlier slots, realigned to
    the window at the time of the failure."""
    peer = Peer("node-b", clock)
    target = node("node-b", await nursery.start(serve_asgi, peer))
    if first == "fetch_items":
        [earlier] = await cluster.fetch_items([target])
        earlier_slots = earlier.recent_slots
    else:
        earlier_slots = (await cluster.fetch_detail(target, events_limit=0)).recent_slots

    peer.answer = "error 500"
    clock.now = T0 + timedelta(hours=1)
    [item] = await cluster.fetch_items([target])

    assert item.error == "HTTP 500: disk on fire (again)"
    assert len(item.recent_slots) == WINDOW_SLOTS
    assert item.recent_slots == aligned_slots(earlier_slots, clock.now)
    # Two slots later: the same observed slots, each two places further left.
    observed = [slot for slot in earlier_slots if slot.observed_secs]
    assert observed
    assert [slot for slot in item.recent_slots if slot.observed_secs] == observed
    first_observed = earlier_slots.index(observed[0])
    assert item.recent_slots[first_observed - 2] == observed[0]


# --- incremental fetches ---------------------------------------------------------------


def xray_outage_at(step: int) -> ProbeResult:
    """xray is refused for a while every few hours, so the slots of the day differ."""
    return (
        ProbeResult.failure("connection refused")
        if step % 40 in range(10, 16)
        else (ProbeResult.success())
    )


def full_client(http_client: httpx.AsyncClient, clock: ManualClock) -> ClusterClient:
    """A client with nothing cached: its first fetch of a node is a full one."""
    return ClusterClient(http_client, key=KEY, timeout_secs=TIMEOUT_SECS, clock=clock)


@pytest.mark.slow
async def test_incremental_fetches_over_a_day_equal_full_fetches(
    nursery, cluster, http_client, clock
):
    """Asked every 12 minutes for a day (48 slot boundaries) while the node's history
    grows, the incremental client's row is exactly a full fetch's, every time; after
    the first, every answer held only the slots since the one before the node's slot
    in progress, each a few hundred bytes."""
    peer = Peer("node-b", clock)
    target = node("node-b", await nursery.start(serve_asgi, peer))
    fetches = 0
    for step in range(24 * 15):  # a probe every 4 minutes for a day
        clock.now += timedelta(minutes=4)
        peer.runtime = peer.runtime.probed(
            Component.XRAY, xray_outage_at(step), clock.now, fails_before_down=1
        ).runtime
        if step % 3:
            continue
        [row] = await cluster.fetch_rows([target])
        incremental_body = peer.answers[-1]
        [expected] = await full_client(http_client, clock).fetch_rows([target])
        assert row.error is None
        assert row.json() == expected.json(), f"step {step}"
        if fetches:
            assert b'"slots_since"' in incremental_body
            assert len(incremental_body) < 4096
        fetches += 1

    assert fetches == 120
    # The full client's answers, and the first of the incremental client, are full.
    assert peer.incremental_answers == fetches - 1
    [row] = await cluster.fetch_rows([target])
    item = row.item()
    assert item.recent_slots == aligned_slots(peer.runtime.recent_slots(clock.now), clock.now)
    assert sum(slot.summary is Summary.DOWN for slot in item.recent_slots) >= 10


async def fetched_twice(cluster: ClusterClient, peer: Peer, target: ClusterNode) -> None:
    """A full fetch, then (ten minutes later) an incremental one."""
    await cluster.fetch_rows([target])
    peer.clock.now += timedelta(minutes=10)
    peer.runtime = peer.runtime.ticked(peer.clock.now)
    await cluster.fetch_rows([target])
    assert peer.incremental_answers == 1


async def test_a_reset_history_is_fetched_in_full(nursery, cluster, http_client, clock):
    """A node whose history was reset (its state file was unusable) no longer matches
    the digest of what the client holds: it answers in full, and no stale slot
    survives in the row."""
    peer = Peer("node-b", clock)
    target = node("node-b", await nursery.start(serve_asgi, peer))
    await fetched_twice(cluster, peer, target)

    clock.now += timedelta(minutes=10)
    fresh = NodeRuntime.new("node-b", enabled={Component.XRAY})
    peer.runtime = fresh.started(
        clock.now, enabled={Component.XRAY}, previous=None, reset_reason="unreadable"
    ).runtime
    [row] = await cluster.fetch_rows([target])
    [expected] = await full_client(http_client, clock).fetch_rows([target])

    assert b'"slots_since"' not in peer.answers[-2]  # the reset node answered in full
    assert row.json() == expected.json()
    assert [slot for slot in row.item().recent_slots if slot.observed_secs] == []


async def test_history_changed_by_a_clock_set_back_is_fetched_in_full(
    nursery, cluster, http_client, clock
):
    """A node whose clock was set back 90 minutes for a while put time into an earlier
    slot, older than what the client asks for: the digest differs, the node answers
    in full and the row shows the changed slot."""
    peer = Peer("node-b", clock)
    target = node("node-b", await nursery.start(serve_asgi, peer))
    runtime = peer.runtime.ticked(clock.now, monotonic=0.0)
    peer.runtime = runtime
    await fetched_twice(cluster, peer, target)
    before = peer.runtime.recent_slots(clock.now)

    # Monotonic time runs on while the wall clock reads 45 minutes earlier.
    set_back = clock.now - timedelta(minutes=90)
    runtime = peer.runtime.ticked(clock.now, monotonic=1000.0)
    for second in range(60, 301, 60):
        runtime = runtime.probed(
            Component.XRAY,
            ProbeResult.failure("connection refused"),
            set_back + timedelta(seconds=second),
            fails_before_down=1,
            monotonic=1000.0 + second,
        ).runtime
    peer.runtime = runtime.ticked(clock.now, monotonic=1400.0)
    changed = [
        old.slot_start
        for old, new in zip(before, peer.runtime.recent_slots(clock.now), strict=True)
        if old != new and new.slot_start < clock.now - timedelta(minutes=60)
    ]
    assert changed, "the clock set back changed no earlier slot"

    [row] = await cluster.fetch_rows([target])
    [expected] = await full_client(http_client, clock).fetch_rows([target])

    assert b'"slots_since"' not in peer.answers[-2]
    assert row.json() == expected.json()


async def test_an_older_node_without_the_parameter_is_shown_in_full(
    nursery, cluster, http_client, clock
):
    """A node that ignores `slots_since` answers in full every time: its row is right."""
    peer = Peer("node-b", clock, answer="detail, ignoring slots_since")
    target = node("node-b", await nursery.start(serve_asgi, peer))
    await cluster.fetch_rows([target])
    clock.now += timedelta(minutes=40)
    peer.runtime = peer.runtime.probed(
        Component.XRAY, ProbeResult.failure("connection refused"), clock.now, fails_before_down=1
    ).runtime

    [row] = await cluster.fetch_rows([target])
    [expected] = await full_client(http_client, clock).fetch_rows([target])

    assert "slots_since=" in peer.targets[1]
    assert peer.incremental_answers == 0
    assert row.json() == expected.json()
    assert row.item().summary is Summary.DOWN


async def test_gzip_answers_are_read(nursery, cluster, clock):
    """The fan-out asks for gzip and reads a gzip answer as the plain one."""
    peer = Peer("node-b", clock, gzip=True)
    target = node("node-b", await nursery.start(serve_asgi, peer))

    [item] = await cluster.fetch_items([target])
    detail = await cluster.fetch_detail(target, events_limit=2)

    assert item == peer.detail(0).as_item()
    assert detail == peer.detail(2)


@HTTPX_3686
async def test_a_gzip_bomb_is_too_large(nursery, cluster, clock):
    """A small gzip body that inflates past the cap is refused as too large, without
    inflating all of it."""
    bomb = gzip.compress(b" " * (MAX_ANSWER_BYTES * 4))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": bomb})

    target = node("node-b", await nursery.start(serve_asgi, app))

    [item] = await cluster.fetch_items([target])

    assert len(bomb) < 64 * 1024
    assert item.error == "answer too large (over 8 MiB)"


async def test_the_cache_forgets_nodes_no_longer_asked_about(nursery, cluster, clock):
    """The slots remembered are those of the nodes the list asks about: a node left
    out of a call is forgotten, so it shows no old slots when it fails later."""
    peer = Peer("node-b", clock)
    target = node("node-b", await nursery.start(serve_asgi, peer))
    other = node("node-c", await nursery.start(serve_asgi, Peer("node-c", clock)))
    await cluster.fetch_rows([target, other])
    await cluster.fetch_rows([other])

    peer.answer = "error 500"
    [row, _] = await cluster.fetch_rows([target, other])

    assert row.error == "HTTP 500: disk on fire (again)"
    assert all(slot.summary is Summary.UNKNOWN for slot in row.item().recent_slots)


# --- one fan-out for many callers --------------------------------------------------------


async def test_concurrent_list_calls_share_one_request_per_node(nursery, cluster, clock):
    """Ten list calls made while one is under way cause one request per node and all
    get the same rows."""
    gate = trio.Event()
    peers = [Peer(f"node-{name}", clock, gate=gate) for name in "bc"]
    targets = [node(peer.node_id, await nursery.start(serve_asgi, peer)) for peer in peers]
    results: list[list[str]] = []

    async def call() -> None:
        results.append([row.json() for row in await cluster.fetch_rows(targets)])

    async with trio.open_nursery() as callers:
        for _ in range(10):
            callers.start_soon(call)
        await trio.testing.wait_all_tasks_blocked()
        gate.set()

    assert [len(peer.targets) for peer in peers] == [1, 1]
    assert len(results) == 10
    assert all(result == results[0] for result in results)

    # Once it is over, the next call asks again.
    await cluster.fetch_rows(targets)
    assert [len(peer.targets) for peer in peers] == [2, 2]


async def test_a_cancelled_first_caller_does_not_fail_the_others(nursery, cluster, clock):
    """When the caller whose fan-out the others wait on goes away, one of them runs it
    again and all of them get rows."""
    gate = trio.Event()
    peer = Peer("node-b", clock, gate=gate)
    target = node("node-b", await nursery.start(serve_asgi, peer))
    rows: list[RelayedRow] = []

    async def call() -> None:
        [row] = await cluster.fetch_rows([target])
        rows.append(row)

    first = trio.CancelScope()

    async def first_call() -> None:
        with first:
            await cluster.fetch_rows([target])

    async with trio.open_nursery() as callers:
        callers.start_soon(first_call)
        await trio.testing.wait_all_tasks_blocked()
        for _ in range(3):
            callers.start_soon(call)
        await trio.testing.wait_all_tasks_blocked()
        first.cancel()
        await trio.testing.wait_all_tasks_blocked()
        gate.set()

    assert first.cancelled_caught
    assert len(peer.targets) == 2
    assert len(rows) == 3
    assert rows[0] is rows[1] is rows[2]
    assert rows[0].error is None


@pytest.mark.slow
async def test_a_caller_that_runs_a_fan_out_again_keeps_its_own_deadline(nursery, cluster, clock):
    """A caller that joined a fan-out whose first caller went away near its deadline
    runs it again only within what is left of its own deadline, not a fresh one."""
    peer = Peer("node-b", clock, gate=trio.Event())  # never answers
    target = node("node-b", await nursery.start(serve_asgi, peer))
    first = trio.CancelScope()

    async def first_call() -> None:
        with first:
            await cluster.fetch_rows([target])

    async with trio.open_nursery() as callers:
        callers.start_soon(first_call)
        await trio.testing.wait_all_tasks_blocked()
        joined = trio.current_time()
        rows: list[RelayedRow] = []

        async def call() -> None:
            rows.extend(await cluster.fetch_rows([target]))

        callers.start_soon(call)
        await trio.sleep(TIMEOUT_SECS * 0.8)
        first.cancel()

    assert rows[0].error is not None
    assert rows[0].error.startswith("timed out")
    # Its own deadline (1 s from joining), not the 0.8 s it waited plus a fresh one.
    assert trio.current_time() - joined < TIMEOUT_SECS * 1.5
