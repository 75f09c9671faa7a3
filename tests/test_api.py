"""The HTTP API end to end: real agents on loopback, asked over real HTTP."""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import trio
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.agents import TOKEN, Cluster, RunningAgent, admin_client, make_cluster, start_agent
from tests.grpc_xray import FakeXrayApi
from xpagent.api import SIGNATURE_HEADER, sign


@pytest.fixture
def xray() -> Iterator[FakeXrayApi]:
    api = FakeXrayApi()
    api.start()
    yield api
    api.stop()


@pytest.fixture
def cluster(tmp_path: Path, xray: FakeXrayApi) -> Cluster:
    return make_cluster(tmp_path, ["a", "b", "c"], xray_addr=xray.addr)


async def start_all(nursery: trio.Nursery, cluster: Cluster) -> dict[str, RunningAgent]:
    return {
        node_id: await start_agent(nursery, cluster.settings(node_id))
        for node_id in cluster.node_ids
    }


async def wait_until_up(client: httpx.AsyncClient, node_id: str) -> None:
    """Bounded poll until the node reports xray up (its first probe answered)."""
    with trio.fail_after(10):
        while True:
            answer = await client.get(f"/api/admin/nodes/{node_id}/runtime?events_limit=0")
            if answer.status_code == 200 and answer.json()["summary"] == "up":
                return
            await trio.sleep(0.05)


def error_of(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


async def test_health_needs_no_token_and_counts_nothing_yet(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """`/api/health` answers without a token with the node id and version."""
    await start_agent(nursery, cluster.settings("a"))
    async with httpx.AsyncClient(base_url=cluster.url("a")) as client:
        body = (await client.get("/api/health")).json()
    assert body["status"] == "ok"
    assert body["node_id"] == "a"
    assert body["sse_streams"] == 0
    assert isinstance(body["uptime_secs"], int)


async def test_three_node_list_then_a_node_stops(nursery: trio.Nursery, cluster: Cluster) -> None:
    """Three agents list each other in file order; a stopped one is partial with its slots."""
    agents = await start_all(nursery, cluster)
    async with admin_client(cluster.url("a")) as client:
        for node_id in cluster.node_ids:
            await wait_until_up(client, node_id)
        body = (await client.get("/api/admin/nodes/runtime")).json()
        assert body["partial"] is False
        assert body["unreachable_nodes"] == []
        assert [item["node_id"] for item in body["items"]] == ["a", "b", "c"]
        for item in body["items"]:
            assert "error" not in item
            assert len(item["recent_slots"]) == 336
            assert [c["component"] for c in item["components"]] == ["xp", "xray", "cloudflared"]
            assert item["summary"] == "up"
            assert item["node_name"] == f"Node {item['node_id'].upper()}"
        seen_slot = body["items"][2]["recent_slots"][-1]
        assert seen_slot["xray"] == "up"

        agents["c"].stop()
        start = trio.current_time()
        body = (await client.get("/api/admin/nodes/runtime")).json()
        assert trio.current_time() - start < 1.5
        assert body["partial"] is True
        assert body["unreachable_nodes"] == ["c"]
        lost = body["items"][2]
        assert lost["summary"] == "unknown"
        assert {c["status"] for c in lost["components"]} == {"unknown"}
        assert "connection refused" in lost["error"]
        assert len(lost["recent_slots"]) == 336
        assert lost["recent_slots"][-1]["xray"] == "up"  # what C said last time

        detail = await client.get("/api/admin/nodes/c/runtime")
        assert error_of(detail) == (503, "unavailable")
        assert "connection refused" in detail.json()["error"]["message"]


async def test_static_node_list_follows_the_cluster_file(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """The node metadata comes from the cluster file, in its order."""
    await start_agent(nursery, cluster.settings("a"))
    async with admin_client(cluster.url("a")) as client:
        items = (await client.get("/api/admin/nodes")).json()["items"]
        assert [item["node_id"] for item in items] == ["a", "b", "c"]
        assert items[1] == {
            "node_id": "b",
            "node_name": "Node B",
            "api_base_url": cluster.url("b"),
            "access_host": None,
        }
        assert (await client.get("/api/admin/nodes/b")).json() == items[1]
        assert error_of(await client.get("/api/admin/nodes/zz")) == (404, "not_found")


async def test_a_remote_detail_passes_events_limit_through(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """The detail of another node comes through the signed internal route with its events."""
    await start_all(nursery, cluster)
    async with admin_client(cluster.url("a")) as client:
        await wait_until_up(client, "b")
        detail = (await client.get("/api/admin/nodes/b/runtime?events_limit=1")).json()
        assert detail["node_id"] == "b"
        assert len(detail["events"]) == 1
        assert len(detail["recent_slots"]) == 336
        full = (await client.get("/api/admin/nodes/b/runtime")).json()
        assert [e["component"] for e in full["events"]][-1] == "xp"


@pytest.mark.parametrize("limit", ["-1", "1001", "abc", "1.5", ""])
async def test_bad_events_limit_is_a_400(
    nursery: trio.Nursery, cluster: Cluster, limit: str
) -> None:
    """events_limit outside 0..=1000 is refused with the contract's error."""
    await start_agent(nursery, cluster.settings("a"))
    async with admin_client(cluster.url("a")) as client:
        answer = await client.get(f"/api/admin/nodes/a/runtime?events_limit={limit}")
        assert error_of(answer) == (400, "invalid_request")
        streamed = await client.get(f"/api/admin/nodes/a/runtime/events?events_limit={limit}")
        assert error_of(streamed) == (400, "invalid_request")


async def test_admin_routes_need_the_token(nursery: trio.Nursery, cluster: Cluster) -> None:
    """Without the right bearer token admin routes answer 401 in the contract's shape."""
    await start_agent(nursery, cluster.settings("a"))
    async with httpx.AsyncClient(base_url=cluster.url("a")) as client:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
            answer = await client.get("/api/admin/nodes", headers=headers)
            assert error_of(answer) == (401, "unauthorized")
            assert TOKEN not in answer.text


def signed(target: str, *, key: bytes, ts: int, method: str = "GET") -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(key, method, target, ts)}


async def test_internal_routes_take_only_fresh_valid_signatures(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """A valid signature is accepted; wrong key, altered target, stale or missing → 401."""
    from tests.agents import SECRET

    agent = await start_agent(nursery, cluster.settings("a"))
    now = int(agent.handle.node.recorder.now().timestamp())
    target = "/api/admin/_internal/nodes/runtime/local?events_limit=0"
    async with httpx.AsyncClient(base_url=cluster.url("a")) as client:
        ok = await client.get(target, headers=signed(target, key=SECRET, ts=now))
        assert ok.status_code == 200
        assert ok.json()["node_id"] == "a"
        refused = [
            signed(target, key=b"x" * 40, ts=now),
            signed("/api/admin/_internal/nodes/runtime/local?events_limit=1", key=SECRET, ts=now),
            signed("/api/admin/_internal/nodes/runtime/local", key=SECRET, ts=now),
            signed(target, key=SECRET, ts=now - 61),
            # 62: the node's clock may have ticked a second since `now` was read.
            signed(target, key=SECRET, ts=now + 62),
            {},
            {"Authorization": f"Bearer {TOKEN}"},
        ]
        for headers in refused:
            answer = await client.get(target, headers=headers)
            assert error_of(answer) == (401, "unauthorized"), headers


async def read_frames(
    client: httpx.AsyncClient, url: str, *, into: list[ServerSentEvent], ready: trio.Event
) -> None:
    async with aconnect_sse(client, "GET", url) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        assert source.response.headers["cache-control"] == "no-cache, no-transform"
        assert source.response.headers["x-accel-buffering"] == "no"
        async for sse in source.aiter_sse():
            into.append(sse)
            if len(into) >= 2:
                ready.set()


async def wait_for_frame(
    frames: list[ServerSentEvent], name: str, *, after: int = 0, within: float = 5
) -> ServerSentEvent:
    with trio.fail_after(within):
        while True:
            for sse in frames[after:]:
                if sse.event == name:
                    return sse
            await trio.sleep(0.02)


async def sse_streams(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/health")).json()["sse_streams"])


@pytest.mark.slow
@pytest.mark.parametrize("watched", ["a", "b"], ids=["local", "proxied"])
async def test_event_streams_carry_hello_snapshot_and_live_events(
    nursery: trio.Nursery, cluster: Cluster, xray: FakeXrayApi, watched: str
) -> None:
    """hello, snapshot, then a status change as an `event` within a second of it."""
    await start_all(nursery, cluster)
    frames: list[ServerSentEvent] = []
    ready = trio.Event()
    async with admin_client(cluster.url("a")) as client:
        await wait_until_up(client, watched)
        async with trio.open_nursery() as readers:
            url = f"/api/admin/nodes/{watched}/runtime/events?events_limit=5"
            readers.start_soon(
                functools.partial(read_frames, client, url, into=frames, ready=ready)
            )
            with trio.fail_after(5):
                await ready.wait()
            assert [f.event for f in frames[:2]] == ["hello", "snapshot"]
            assert json.loads(frames[0].data)["node_id"] == watched
            snapshot = json.loads(frames[1].data)
            assert snapshot["node_id"] == watched
            assert len(snapshot["events"]) <= 5
            assert sum(1 for f in frames if f.event == "hello") == 1

            xray.stop()
            event = await wait_for_frame(frames, "event", within=10)
            change = json.loads(event.data)
            assert event.id == change["event_id"]
            assert change["message"].startswith("xray status changed: up -> down")
            # The cards follow: a snapshot shows xray down, at most a second later.
            after = frames.index(event)
            cards = json.loads((await wait_for_frame(frames, "snapshot", after=after)).data)
            assert cards["components"][1]["status"] == "down"
            assert await sse_streams(client) >= 1
            readers.cancel_scope.cancel()

        # The client went away: its stream is released within a second, no event
        # needed — and so is the upstream stream on the watched node when relayed.
        # Bounded polls of the nodes' counters over HTTP: no event to wait on.
        async with admin_client(cluster.url(watched)) as upstream:
            with trio.fail_after(1):
                while await sse_streams(client) != 0:  # noqa: ASYNC110
                    await trio.sleep(0.02)
                while await sse_streams(upstream) != 0:  # noqa: ASYNC110
                    await trio.sleep(0.02)


@pytest.mark.slow
async def test_a_proxied_stream_survives_its_node_going_away(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """node_error while the node is gone, the stream stays open, a snapshot when it is back."""
    agents = await start_all(nursery, cluster)
    frames: list[ServerSentEvent] = []
    ready = trio.Event()
    async with admin_client(cluster.url("a")) as client:
        await wait_until_up(client, "b")
        async with trio.open_nursery() as readers:
            url = "/api/admin/nodes/b/runtime/events"
            readers.start_soon(
                functools.partial(read_frames, client, url, into=frames, ready=ready)
            )
            with trio.fail_after(5):
                await ready.wait()
            agents["b"].stop()
            error = await wait_for_frame(frames, "node_error")
            assert json.loads(error.data)["node_id"] == "b"
            assert json.loads(error.data)["error"]
            mark = len(frames)
            # The old agent must be gone before a new one takes its data directory.
            with trio.fail_after(10):
                await agents["b"].finished.wait()
            agents["b"] = await start_agent(nursery, cluster.settings("b"))
            back = await wait_for_frame(frames, "snapshot", after=mark, within=10)
            assert json.loads(back.data)["node_id"] == "b"
            assert sum(1 for f in frames if f.event == "hello") == 1
            readers.cancel_scope.cancel()


async def test_too_many_streams_is_a_503(nursery: trio.Nursery, cluster: Cluster) -> None:
    """Beyond XP_SSE_MAX_STREAMS a new stream is refused in the contract's shape."""
    await start_agent(nursery, cluster.settings("a", XP_SSE_MAX_STREAMS="1"))
    frames: list[ServerSentEvent] = []
    ready = trio.Event()
    async with admin_client(cluster.url("a")) as client, trio.open_nursery() as readers:
        url = "/api/admin/nodes/a/runtime/events"
        readers.start_soon(functools.partial(read_frames, client, url, into=frames, ready=ready))
        with trio.fail_after(5):
            await ready.wait()
        answer = await client.get(url)
        assert error_of(answer) == (503, "unavailable")
        readers.cancel_scope.cancel()


async def test_the_stream_limit_holds_under_concurrent_requests(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """Six streams asked for at once with a limit of two: exactly two are served."""
    await start_agent(nursery, cluster.settings("a", XP_SSE_MAX_STREAMS="2"))
    statuses: list[int] = []
    opened = trio.Semaphore(0)

    async def open_stream(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/api/admin/nodes/a/runtime/events") as answer:
            statuses.append(answer.status_code)
            opened.release()
            if answer.status_code == 200:
                await trio.sleep_forever()

    async with admin_client(cluster.url("a")) as client, trio.open_nursery() as streams:
        for _ in range(6):
            streams.start_soon(open_stream, client)
        with trio.fail_after(10):
            for _ in range(6):
                await opened.acquire()
        assert sorted(statuses) == [200, 200, 503, 503, 503, 503]
        streams.cancel_scope.cancel()


async def test_unknown_routes_and_nodes_answer_in_the_contract_shape(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """Unknown nodes and paths are JSON 404s."""
    await start_agent(nursery, cluster.settings("a"))
    async with admin_client(cluster.url("a")) as client:
        for path in (
            "/api//admin/nodes",
            "/api/admin/nodes/zz/runtime",
            "/api/admin/nodes/zz/runtime/events",
            "/api/admin/nothing-here",
        ):
            assert error_of(await client.get(path)) == (404, "not_found"), path


# --- compression and incremental fetches (CONTRACT §6) -------------------------------


async def raw_get(
    client: httpx.AsyncClient, url: str, *, accept_encoding: str
) -> tuple[httpx.Response, bytes]:
    """A GET whose body is read as it came over the wire (not decoded by httpx)."""
    async with client.stream("GET", url, headers={"Accept-Encoding": accept_encoding}) as answer:
        body = b"".join([chunk async for chunk in answer.aiter_raw()])
    return answer, body


@pytest.mark.parametrize("path", ["/api/admin/nodes/runtime", "/api/admin/nodes/b/runtime"])
async def test_json_answers_are_gzipped_for_clients_that_accept_it(
    nursery: trio.Nursery, cluster: Cluster, path: str
) -> None:
    """With `Accept-Encoding: gzip` a large JSON answer comes gzipped; without, it is
    the same JSON in plain; either way it says `Vary: Accept-Encoding`."""
    await start_all(nursery, cluster)
    async with admin_client(cluster.url("a")) as client:
        await wait_until_up(client, "b")
        zipped, packed = await raw_get(client, path, accept_encoding="gzip")
        plain, text = await raw_get(client, path, accept_encoding="identity")

    assert zipped.status_code == plain.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert "accept-encoding" in zipped.headers["vary"].lower()
    assert "accept-encoding" in plain.headers["vary"].lower()
    assert len(packed) < len(text) / 5
    unpacked, body = json.loads(gzip.decompress(packed)), json.loads(text)
    assert unpacked.keys() == body.keys()
    assert unpacked["node_id" if "node_id" in body else "partial"] == body.get(
        "node_id", body.get("partial")
    )


# Leaving a stream after its first chunk leaves httpx's inner generators to the
# garbage collector (encode/httpx#3686); the connection is closed all the same.
@pytest.mark.filterwarnings("ignore:Exception ignored in:pytest.PytestUnraisableExceptionWarning")
async def test_small_answers_and_event_streams_are_never_gzipped(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """A JSON answer under a kilobyte and an event stream stay uncompressed, whatever
    the client accepts."""
    await start_agent(nursery, cluster.settings("a"))
    async with admin_client(cluster.url("a")) as client:
        health, _ = await raw_get(client, "/api/health", accept_encoding="gzip")
        async with client.stream(
            "GET", "/api/admin/nodes/a/runtime/events", headers={"Accept-Encoding": "gzip"}
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in stream.headers
            first = b""
            async for chunk in stream.aiter_raw():
                first = chunk
                break

    assert "content-encoding" not in health.headers
    assert first.startswith((b"event: hello", b": ")), first[:40]


async def test_the_internal_route_answers_the_slots_since(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """`slots_since` with the digest of the slots before it gets those slots only and
    `slots_since`; a wrong digest gets the full detail; a malformed value is a 400."""
    from tests.agents import SECRET
    from xpagent.api._relayed import slots_digest

    agent = await start_agent(nursery, cluster.settings("a"))
    now = agent.handle.node.recorder.now()
    full_target = "/api/admin/_internal/nodes/runtime/local?events_limit=0"

    async def get(target: str) -> httpx.Response:
        ts = int(agent.handle.node.recorder.now().timestamp())
        return await client.get(target, headers=signed(target, key=SECRET, ts=ts))

    async with httpx.AsyncClient(base_url=cluster.url("a")) as client:
        full = (await get(full_target)).json()
        slots = full["recent_slots"]
        since = slots[-2]["slot_start"]
        texts = [json.dumps(slot, separators=(",", ":")) for slot in slots[:-2]]
        digest = slots_digest(texts)
        if agent.handle.node.recorder.now() - now > timedelta(minutes=1):
            pytest.skip("a slot boundary passed during the test")
        part = (await get(f"{full_target}&slots_since={since}&slots_digest={digest}")).json()
        wrong = (await get(f"{full_target}&slots_since={since}&slots_digest=00ff")).json()
        bad = await get(f"{full_target}&slots_since=2026-11-28T10:31:00Z")

    assert part["slots_since"] == since
    assert [slot["slot_start"] for slot in part["recent_slots"]] == [
        slot["slot_start"] for slot in slots[-2:]
    ]
    assert part["components"] == full["components"]
    assert "slots_since" not in wrong
    assert len(wrong["recent_slots"]) == 336
    assert error_of(bad) == (400, "invalid_request")
