"""A relayed event stream is the direct one (but for `node_error`), in virtual time.

The other node is played by its real stream generator (`local_frames` over a real
hub) served through httpx's MockTransport, so the relay reads exactly the bytes
the node would send, and both streams can be compared frame by frame.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from tests.agents import admin_client, make_cluster, start_agent
from xpagent.api._fanout import ClusterClient
from xpagent.api._sse import (
    KEEPALIVE_FRAME,
    EventStreamDecoder,
    EventStreamError,
    StreamComment,
    StreamFrame,
    StreamRelays,
    local_frames,
)
from xpagent.core import (
    Component,
    ComponentStatus,
    Event,
    EventKind,
    EventLevel,
    NodeRuntime,
    runtime_detail,
    to_json_value,
)
from xpagent.daemon import ClusterNode, Hub
from xpagent.daemon._clock import TrioWallClock

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
KEY = b"cluster-secret-" * 3
NODE_B = ClusterNode("node-b", "Node B", "http://node-b.internal:62416")
CONNECTED_AT = "2026-11-28T10:00:00Z"


def make_event(index: int) -> Event:
    return Event(
        event_id=f"01JEVENT{index:018d}",
        occurred_at=NOW,
        component=Component.XRAY,
        kind=EventKind.STATUS_CHANGED,
        level=EventLevel.WARNING,
        message=f"xray status changed: up -> down (réfusé {index})",
        status_from=ComponentStatus.UP,
        status_to=ComponentStatus.DOWN,
    )


@functools.cache
def snapshot_of(node_id: str) -> Callable[[], str]:
    """The node's snapshot body, the same text every time (as the node's cache gives)."""
    runtime = NodeRuntime.new(node_id, enabled={Component.XRAY})
    runtime = runtime.started(NOW, enabled={Component.XRAY}, previous=None).runtime
    detail = runtime_detail(runtime, "Node B", NOW, events_limit=5)
    text = json.dumps(to_json_value(detail), ensure_ascii=False, separators=(",", ":"))
    return lambda: text


class GeneratorBody(httpx.AsyncByteStream):
    """An answer body read lazily from an async generator, closed with the answer."""

    def __init__(self, body: AsyncGenerator[bytes, None]) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._body:
            yield chunk

    async def aclose(self) -> None:
        await self._body.aclose()


Upstream = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def node_stream(hub: Hub[Event], node_id: str = "node-b") -> Upstream:
    """The other node: its own stream over `hub`, as its internal route answers."""

    async def answer(request: httpx.Request) -> httpx.Response:
        frames = local_frames(
            node_id=node_id, hub=hub, snapshot=snapshot_of(node_id), connected_at=CONNECTED_AT
        )
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=GeneratorBody(frames)
        )

    return answer


def raw_stream(chunks: list[bytes], *, then_hang: bool = True) -> Upstream:
    """A node sending `chunks`, then nothing more (hung, or behind a buffering proxy)."""

    async def body() -> AsyncGenerator[bytes, None]:
        for chunk in chunks:
            yield chunk
        if then_hang:
            await trio.sleep_forever()

    async def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=GeneratorBody(body())
        )

    return answer


async def start_relays(nursery: trio.Nursery, upstream: Upstream) -> StreamRelays:
    client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    cluster = ClusterClient(client, key=KEY, timeout_secs=5.0, clock=TrioWallClock(NOW))
    relays = StreamRelays(cluster, client)
    await nursery.start(relays.run)
    return relays


async def collect(
    frames: AsyncGenerator[bytes, None], into: list[tuple[float, bytes]], until: float
) -> None:
    """Read `frames` into `into` (with their virtual time) until trio's clock says `until`."""
    async with aclosing(frames):
        with trio.move_on_at(until):
            async for data in frames:
                into.append((trio.current_time(), data))


def frame_names(frames: list[tuple[float, bytes]]) -> list[str]:
    names = []
    for _, data in frames:
        text = data.decode()
        names.append("comment" if text.startswith(":") else text.split("\n")[0])
    return names


# --- relayed and direct, side by side -----------------------------------------------


async def test_a_relayed_stream_is_the_direct_stream_over_quiet_spells_and_events(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """Over 40 quiet seconds, a burst of events, and 40 more quiet seconds, the client of
    the relay receives byte for byte what the node's own client does: no `event:
    message` for the node's keepalives, `id:` only on `event` frames."""
    hub: Hub[Event] = Hub()
    relays = await start_relays(nursery, node_stream(hub))
    start = trio.current_time()
    end = start + 90
    direct: list[tuple[float, bytes]] = []
    relayed: list[tuple[float, bytes]] = []
    async with trio.open_nursery() as readers:
        readers.start_soon(
            collect,
            local_frames(
                node_id="node-b",
                hub=hub,
                snapshot=snapshot_of("node-b"),
                connected_at=CONNECTED_AT,
            ),
            direct,
            end,
        )
        readers.start_soon(
            collect,
            relays.frames(NODE_B, events_limit=5, connected_at=CONNECTED_AT),
            relayed,
            end,
        )
        await trio.sleep_until(start + 40)
        for index in range(3):
            hub.publish(make_event(index))
        await trio.sleep(5)
        hub.publish(make_event(3))

    assert [data for _, data in relayed] == [data for _, data in direct]
    assert [at - start for at, _ in relayed] == [at - start for at, _ in direct]
    assert frame_names(direct) == [
        "event: hello",
        "event: snapshot",
        "comment",  # 15 s
        "comment",  # 30 s
        "event: event",
        "event: event",
        "event: event",
        "event: snapshot",
        "event: event",
        "event: snapshot",  # 45.25 s
        "comment",  # 60.25 s
        "comment",  # 75.25 s
    ]
    for _, data in relayed:
        text = data.decode()
        assert ("\nid: " in text) == text.startswith("event: event\n"), text
        assert not text.startswith("event: message")
    # Both readers left: the node's subscription for the relay is gone too.
    await trio.sleep(1)
    assert hub.subscriber_count == 0


# --- a silent node -----------------------------------------------------------------------


async def test_a_node_that_goes_silent_is_reported_within_two_keepalive_periods(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """A node (or a buffering proxy) that sends its first frames and then nothing is a
    `node_error` 30 s after its last byte — while our own keepalive keeps the client's
    stream open — and the relay tries again."""
    hello = b'event: hello\ndata: {"node_id":"node-b","connected_at":"2026-11-28T10:00:00Z"}\n\n'
    snapshot = b"event: snapshot\ndata: " + snapshot_of("node-b")().encode() + b"\n\n"
    relays = await start_relays(nursery, raw_stream([hello, snapshot]))
    start = trio.current_time()
    frames: list[tuple[float, bytes]] = []
    await collect(
        relays.frames(NODE_B, events_limit=5, connected_at=CONNECTED_AT), frames, start + 32
    )

    # Our keepalives (15 s, 30 s) keep the client's stream open meanwhile.
    assert [name for name in frame_names(frames) if name != "comment"] == [
        "event: hello",
        "event: snapshot",
        "event: node_error",
        "event: snapshot",  # the second connection, a second after the first gave up
    ]
    [(at, error)] = [(at, data) for at, data in frames if data.startswith(b"event: node_error")]
    assert at - start == 30.0
    assert json.loads(error.decode().split("data: ", 1)[1]) == {
        "node_id": "node-b",
        "error": "no data from node-b for 30 s",
    }


async def test_a_node_that_never_answers_is_reported_the_same_way(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """A node that accepts the connection but never sends the answer's head."""

    async def hang(request: httpx.Request) -> httpx.Response:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    relays = await start_relays(nursery, hang)
    start = trio.current_time()
    frames: list[tuple[float, bytes]] = []
    await collect(
        relays.frames(NODE_B, events_limit=5, connected_at=CONNECTED_AT), frames, start + 31
    )
    assert [name for name in frame_names(frames) if name != "comment"] == [
        "event: hello",
        "event: node_error",
    ]
    [(at, error)] = [(at, data) for at, data in frames if data.startswith(b"event: node_error")]
    assert at - start == 30.0
    assert b"no data from node-b for 30 s" in error


# --- what the relay does not pass on ---------------------------------------------------

HELLO = b'event: hello\ndata: {"node_id":"node-b","connected_at":"2026-11-28T10:00:00Z"}\n\n'


@pytest.mark.parametrize(
    ("chunks", "reason"),
    [
        ([b"event: snapshot\ndata: {not json\n\n"], "snapshot frame: not JSON (JSONDecodeError)"),
        (
            [b'event: lagged\ndata: {"node_id":"node-b","missed":' + b"9" * 5000 + b"}\n\n"],
            "lagged frame: not JSON (ValueError: Exceeds the limit (4300 digits)",
        ),
        (
            [b'event: lagged\ndata: {"node_id":"node-z","missed":1}\n\n'],
            "lagged frame comes from node 'node-z', not 'node-b'",
        ),
        ([b'event: event\ndata: {"event_id":"x"}\n\n'], "event frame: required field missing"),
        ([b"data: \xff\n\n"], "not UTF-8"),
    ],
    ids=["bad JSON", "5000-digit integer", "another node", "wrong shape", "not UTF-8"],
)
async def test_a_frame_that_does_not_hold_what_it_must_breaks_the_upstream_not_the_client(
    autojump_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
    chunks: list[bytes],
    reason: str,
) -> None:
    """Such a frame is never sent on: the client gets a `node_error` with the reason."""
    relays = await start_relays(nursery, raw_stream([HELLO, *chunks]))
    frames: list[tuple[float, bytes]] = []
    await collect(
        relays.frames(NODE_B, events_limit=5, connected_at=CONNECTED_AT),
        frames,
        trio.current_time() + 0.5,
    )
    assert frame_names(frames) == ["event: hello", "event: node_error"]
    error = json.loads(frames[1][1].decode().split("data: ", 1)[1])["error"]
    assert error.startswith(f"invalid event stream: {reason}"), error


async def test_unknown_frames_are_dropped_and_comments_become_our_keepalive(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """A frame name the contract does not have (a newer node's, or `message`) is not
    passed on; a comment is, as our own keepalive, 15 s after the last frame."""
    chunks = [
        HELLO,
        b"event: config_reloaded\ndata: {}\n\n",
        b"data: plain message\nid: 7\n\n",
        b"retry: 1000\n\n",
    ]
    upstream: Upstream = raw_stream(chunks)
    relays = await start_relays(nursery, upstream)
    start = trio.current_time()
    frames: list[tuple[float, bytes]] = []
    await collect(
        relays.frames(NODE_B, events_limit=5, connected_at=CONNECTED_AT), frames, start + 20
    )
    assert [data for _, data in frames][1:] == [KEEPALIVE_FRAME]
    assert frames[1][0] - start == 15.0


def test_the_decoder_follows_the_event_stream_rules() -> None:
    """Any of CRLF, CR, LF ends a line, also split between chunks; a frame without data
    is not dispatched; comments are reported; a leading BOM is ignored."""
    decoder = EventStreamDecoder()
    items: list[StreamFrame | StreamComment] = []
    for chunk in [
        b"\xef\xbb\xbf: keep",
        b"alive\r",
        b"\nevent: snapshot\r\nid: 1\ndata: a\ndata: b\r",
        b"\r",
        b"event: nothing\n\n",
        b"data: {}\n\n\xc3",
        b"\xa9",
    ]:
        items += decoder.feed(chunk)
    assert items == [
        StreamComment("keepalive"),
        StreamFrame("snapshot", "a\nb", "1"),
        StreamFrame("message", "{}", None),
    ]


def test_the_decoder_bounds_a_frame() -> None:
    """A frame that never ends cannot take all memory."""
    decoder = EventStreamDecoder(max_frame_chars=2**20)
    for _ in range(15):
        decoder.feed(b"data: " + b"x" * 65536)
    with pytest.raises(EventStreamError, match="a frame of more than 1 MiB"):
        decoder.feed(b"data: " + b"x" * 65536)


# --- the headers of event streams ---------------------------------------------------------


async def test_event_streams_ask_proxies_not_to_transform_them(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """`Cache-Control: no-cache, no-transform`: a compressing proxy must not buffer it."""
    cluster = make_cluster(tmp_path, ["a"], xray_addr="127.0.0.1:9")
    await start_agent(nursery, cluster.settings("a"))
    async with (
        admin_client(cluster.url("a")) as client,
        client.stream("GET", "/api/admin/nodes/a/runtime/events") as answer,
    ):
        assert answer.headers["cache-control"] == "no-cache, no-transform"
        assert answer.headers["content-type"].startswith("text/event-stream")
