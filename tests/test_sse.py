"""The local event stream's frames, driven directly against a real hub in virtual time."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import UTC, datetime

import trio
import trio.testing

from xpagent.api._sse import frame, local_frames
from xpagent.core import (
    Component,
    Event,
    EventKind,
    EventLevel,
    NodeRuntime,
    runtime_detail,
    to_json_value,
)
from xpagent.daemon import Hub

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def make_event(index: int) -> Event:
    return Event(
        event_id=f"E{index:04d}",
        occurred_at=NOW,
        component=Component.XRAY,
        kind=EventKind.STATUS_CHANGED,
        level=EventLevel.INFO,
        message=f"event {index}",
    )


def snapshot() -> str:
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    return json.dumps(to_json_value(runtime_detail(runtime, "Node A", NOW, events_limit=0)))


def parse(raw: bytes) -> tuple[str, dict[str, object] | None]:
    text = raw.decode()
    if text.startswith(":"):
        return "comment", None
    lines = dict(line.split(": ", 1) for line in text.strip().split("\n"))
    return lines["event"], json.loads(lines["data"])


def stream(hub: Hub[Event]) -> AsyncGenerator[bytes, None]:
    return local_frames(node_id="node-a", hub=hub, snapshot=snapshot, connected_at="now")


async def test_frames_are_sse_with_ids_for_events() -> None:
    """A frame is `event:`, optional `id:`, `data:` and a blank line."""
    assert frame("event", {"a": 1}, event_id="E1") == b'event: event\nid: E1\ndata: {"a":1}\n\n'


async def test_hello_snapshot_then_events_then_one_snapshot_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Events arrive as they happen; the cards' snapshot follows at most once a second."""
    hub: Hub[Event] = Hub()
    async with aclosing(stream(hub)) as frames:
        assert parse(await anext(frames))[0] == "hello"
        assert parse(await anext(frames))[0] == "snapshot"
        hub.publish(make_event(1))
        hub.publish(make_event(2))
        start = trio.current_time()
        names = [parse(await anext(frames))[0] for _ in range(3)]
        assert names == ["event", "event", "snapshot"]
        assert trio.current_time() - start == 1.0


async def test_after_a_quiet_spell_the_snapshot_follows_an_event_shortly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Long after the last snapshot, the cards' snapshot comes a quarter second after an event."""
    hub: Hub[Event] = Hub()
    async with aclosing(stream(hub)) as frames:
        await anext(frames)
        await anext(frames)
        hub.publish(make_event(1))
        assert [parse(await anext(frames))[0] for _ in range(2)] == ["event", "snapshot"]
        await trio.sleep(5)
        hub.publish(make_event(2))
        start = trio.current_time()
        assert parse(await anext(frames))[0] == "event"
        assert parse(await anext(frames))[0] == "snapshot"
        assert trio.current_time() - start == 0.25


async def test_a_quiet_stream_sends_keepalives_every_15_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With nothing happening a comment goes out every 15 s."""
    hub: Hub[Event] = Hub()
    async with aclosing(stream(hub)) as frames:
        await anext(frames)
        await anext(frames)
        start = trio.current_time()
        assert await anext(frames) == b": keepalive\n\n"
        assert await anext(frames) == b": keepalive\n\n"
        assert trio.current_time() - start == 30.0


async def test_a_client_that_falls_behind_gets_lagged_and_a_snapshot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A reader that stops reading is told how many it missed; another reader loses nothing."""
    hub: Hub[Event] = Hub(capacity=4)
    async with aclosing(stream(hub)) as slow, aclosing(stream(hub)) as fast:
        for frames in (slow, fast):
            await anext(frames)
            await anext(frames)
        received = []
        for index in range(10):
            hub.publish(make_event(index))
            received.append(parse(await anext(fast)))
        assert [data["event_id"] for _, data in received] == [  # type: ignore[index]
            f"E{index:04d}" for index in range(10)
        ]
        assert parse(await anext(slow)) == ("lagged", {"node_id": "node-a", "missed": 10})
        assert parse(await anext(slow))[0] == "snapshot"


async def test_closing_a_stream_unsubscribes_it(autojump_clock: trio.testing.MockClock) -> None:
    """Once the response generator is closed, the hub no longer holds its subscription."""
    hub: Hub[Event] = Hub()
    async with aclosing(stream(hub)) as frames:
        await anext(frames)
        assert hub.subscriber_count == 1
    assert hub.subscriber_count == 0
