"""Server-Sent Events: the frames, a node's own stream, and the relay of another's.

A stream starts with `hello` then `snapshot`; it carries `event` frames (with the
SSE `id:`), `lagged` plus a fresh `snapshot` when this client fell behind, a
`snapshot` after events (so cards stay current: a quarter of a second after the
first event of a burst, at most once a second), and a
`: keepalive` comment at least every 15 s. A relayed stream adds `node_error`
while the other node cannot be reached, and keeps the client's stream open.

A relayed stream is the direct one but for `node_error`: the relay decodes the
other node's bytes in one place (`EventStreamDecoder`, WHATWG's parsing rules,
each frame bounded), checks each frame of the contract against its model
(`_relayed`) and sends it on as the node wrote it; `id:` only on `event` frames,
comments as our own keepalive, and anything else (a frame name the contract does
not have) dropped. A node that sends nothing at all — not even its keepalive —
for two keepalive periods is reported (`no data from node-b for 30 s`), as is
one whose bytes are not such a stream; either way the relay retries.

The response generators own nothing long-lived: the local one holds a hub
subscription in a `with` block; the relay's upstream reader runs as a task of
`StreamRelays` (a nursery started with the server), tied to the generator by a
cancel scope that the generator's `finally` cancels — so a client that goes away
releases its subscription or upstream connection at once, however quiet the node.

Exceptions: `EventStreamError` (a `ValueError`), for bytes from another node that
are not a usable event stream of the contract; the relay turns it into a
`node_error` reason and never lets it reach the client's stream.
"""

from __future__ import annotations

import codecs
import functools
import json
import math
import re
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from datetime import datetime
from typing import TypeVar, cast

import attrs
import httpx
import trio

from xpagent.core import CodecError, Event, RuntimeDetail, decode_json, to_json_value
from xpagent.daemon import ClusterNode, Hub, Lagged, logger

from ._exceptions import EventStreamError, RemoteNodeError, remote_transport_error
from ._fanout import ClusterClient
from ._routes import LOCAL_EVENTS_PATH

__all__ = [
    "KEEPALIVE_SECS",
    "MAX_FRAME_CHARS",
    "RELAY_BACKOFF_MAX_SECS",
    "RELAY_SILENCE_SECS",
    "SNAPSHOT_MIN_GAP_SECS",
    "SNAPSHOT_SETTLE_SECS",
    "EventStreamDecoder",
    "EventStreamError",
    "StreamRelays",
    "frame",
    "local_frames",
]

T = TypeVar("T")

KEEPALIVE_SECS = 15.0
SNAPSHOT_MIN_GAP_SECS = 1.0
#: A snapshot follows the first event of a burst by at least this much.
SNAPSHOT_SETTLE_SECS = 0.25
RELAY_BACKOFF_INITIAL_SECS = 1.0
RELAY_BACKOFF_MAX_SECS = 30.0
#: A node sends at least a keepalive every KEEPALIVE_SECS: after two periods without
#: a byte (a hung node, a proxy that buffers the stream) it is reported.
RELAY_SILENCE_SECS = 2 * KEEPALIVE_SECS
RELAY_BUFFER_FRAMES = 64
#: One frame of another node's stream; a snapshot with 1000 events is far smaller.
MAX_FRAME_CHARS = 8 * 2**20
KEEPALIVE_FRAME = b": keepalive\n\n"


def frame(name: str, data: object, *, event_id: str | None = None) -> bytes:
    """One SSE frame; `data` is JSON-encoded on a single line."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines = [f"event: {name}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def hello_frame(node_id: str, connected_at: str) -> bytes:
    return frame("hello", {"node_id": node_id, "connected_at": connected_at})


@functools.lru_cache(maxsize=256)
def _event_frame(event: Event) -> bytes:
    # Memoised: every stream of the node sends the same frame for the same event.
    return frame("event", to_json_value(event), event_id=event.event_id)


async def local_frames(
    *,
    node_id: str,
    hub: Hub[Event],
    snapshot: Callable[[], str],
    connected_at: str,
) -> AsyncGenerator[bytes, None]:
    """This node's stream: subscribe, then hello, snapshot, and what happens next.

    `snapshot` returns the detail body as JSON text (the caller caches it: many
    streams want the same snapshot after the same event).
    """
    with hub.subscribe() as subscription:
        yield hello_frame(node_id, connected_at)
        yield frame("snapshot", snapshot())
        last_frame = last_snapshot = trio.current_time()
        snapshot_due: float | None = None  # when the cards' snapshot follows events
        while True:
            wake_at = last_frame + KEEPALIVE_SECS
            if snapshot_due is not None:
                wake_at = min(wake_at, snapshot_due)
            item: Event | Lagged | None = None
            with trio.move_on_at(wake_at):
                item = await subscription.receive()
            # Frames are yielded outside the cancel scope, never inside it.
            now = trio.current_time()
            if isinstance(item, Lagged):
                yield frame("lagged", {"node_id": node_id, "missed": item.missed})
                yield frame("snapshot", snapshot())
                last_snapshot, snapshot_due = now, None
            elif item is not None:
                yield _event_frame(item)
                if snapshot_due is None:
                    # Let the event frames of every stream go out first, and gather a
                    # burst of events into one snapshot.
                    snapshot_due = max(
                        last_snapshot + SNAPSHOT_MIN_GAP_SECS, now + SNAPSHOT_SETTLE_SECS
                    )
            elif snapshot_due is not None and now >= snapshot_due:
                yield frame("snapshot", snapshot())
                last_snapshot, snapshot_due = now, None
            else:
                yield KEEPALIVE_FRAME
            last_frame = now


# --- reading another node's stream ---------------------------------------------------


@attrs.frozen
class StreamFrame:
    """One dispatched frame: its `event:` name (`message` when it had none), its
    `data:` lines joined by newlines, and its own `id:` if it carried one."""

    event: str
    data: str
    id: str | None = None


@attrs.frozen
class StreamComment:
    """A comment line (`: keepalive`), without its colon and first space."""

    text: str


_LINE_END = re.compile(r"\r\n|\r|\n")


class EventStreamDecoder:
    """An event stream's bytes in, its frames and comments out: WHATWG's parsing
    rules (lines end with CRLF, CR or LF; a frame without data is not dispatched;
    unknown fields are ignored), with no I/O. Raises EventStreamError for bytes
    that are not UTF-8 and for a frame of more than `max_frame_chars` characters.
    """

    def __init__(self, *, max_frame_chars: int = MAX_FRAME_CHARS) -> None:
        self._max = max_frame_chars
        self._text = codecs.getincrementaldecoder("utf-8")()
        # The line in progress, in pieces: a long line is never scanned twice.
        self._pending: list[str] = []
        self._pending_chars = 0
        self._after_cr = False  # the last chunk ended with CR: a leading LF belongs to it
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._size = 0

    def feed(self, chunk: bytes) -> list[StreamFrame | StreamComment]:
        """What `chunk`, following the earlier ones, completes."""
        try:
            text = self._text.decode(chunk)
        except UnicodeDecodeError:
            raise EventStreamError("not UTF-8") from None
        if not text:
            return []
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        self._after_cr = text.endswith("\r")
        items: list[StreamFrame | StreamComment] = []
        start = 0
        for match in _LINE_END.finditer(text):
            self._pending.append(text[start : match.start()])
            line = "".join(self._pending)
            self._pending, self._pending_chars = [], 0
            item = self._line(line)
            if item is not None:
                items.append(item)
            start = match.end()
        if start < len(text):
            self._pending.append(text[start:])
            self._pending_chars += len(text) - start
        if self._size + self._pending_chars > self._max:
            raise EventStreamError(f"a frame of more than {self._max // 2**20} MiB")
        return items

    def _line(self, line: str) -> StreamFrame | StreamComment | None:
        if not self._started:
            self._started = True
            line = line.removeprefix("\ufeff")
        if not line:
            data, name, frame_id = self._data, self._event, self._id
            self._event, self._data, self._id, self._size = "", [], None, 0
            if not data:
                return None  # WHATWG: a frame without data is not dispatched
            return StreamFrame(name or "message", "\n".join(data), frame_id)
        if line.startswith(":"):
            return StreamComment(line[1:].removeprefix(" "))
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
            self._size += len(value) + 1
        elif field == "id" and "\x00" not in value:
            self._id = value
        # `retry` and unknown fields mean nothing to a relay.
        return None


@attrs.frozen
class _Hello:
    node_id: str
    connected_at: datetime


@attrs.frozen
class _Lagged:
    node_id: str
    missed: int


def _decoded(item: StreamFrame, kind: type[T]) -> T:
    try:
        return decode_json(item.data, kind)
    except CodecError as exc:
        raise EventStreamError(f"{item.event} frame: {exc}") from None


#: Snapshots larger than this are checked each time rather than remembered, so the
#: memo holds at most 16 MiB whatever a peer sends (a frame may be up to 8 MiB).
_MEMO_MAX_CHARS = 1 << 20


def _snapshot_node_id(item: StreamFrame) -> str:
    if len(item.data) > _MEMO_MAX_CHARS:
        return _decoded(item, RuntimeDetail).node_id
    return _memoised_snapshot_node_id(item)


@functools.lru_cache(maxsize=16)
def _memoised_snapshot_node_id(item: StreamFrame) -> str:
    # Memoised: every relay of a node checks the same snapshot after the same event,
    # and a detail with hundreds of events takes milliseconds to check.
    return _decoded(item, RuntimeDetail).node_id


def _from_node(name: str, node_id: str, expected: str) -> None:
    if node_id != expected:
        # The cluster file points at another node's URL: its stream is not this node's.
        shown = node_id if len(node_id) <= 64 else node_id[:63] + "…"
        raise EventStreamError(f"{name} frame comes from node {shown!r}, not {expected!r}")


#: The frames of the contract that a node's own stream carries.
_CONTRACT_FRAMES = frozenset({"hello", "snapshot", "event", "lagged"})


def _relayed(item: StreamFrame | StreamComment, node_id: str) -> bytes | None:
    """What the client gets for one item of `node_id`'s stream: the frame as the node
    wrote it once checked, our keepalive for a comment, or nothing.

    Raises EventStreamError for a frame of the contract that does not hold what
    it must.
    """
    if isinstance(item, StreamComment):
        return KEEPALIVE_FRAME
    if item.event == "event":
        event = _decoded(item, Event)
        return frame("event", item.data, event_id=event.event_id)
    if item.event == "snapshot":
        _from_node("snapshot", _snapshot_node_id(item), node_id)
        return frame("snapshot", item.data)
    if item.event == "lagged":
        lagged = _decoded(item, _Lagged)
        _from_node("lagged", lagged.node_id, node_id)
        if lagged.missed < 0:
            raise EventStreamError("lagged frame: missed is negative")
        return frame("lagged", item.data)
    if item.event == "hello":
        _from_node("hello", _decoded(item, _Hello).node_id, node_id)
        return None  # the client has ours
    return None  # not a frame of the contract: a newer node's, or another program's


# --- the relay ------------------------------------------------------------------------


@attrs.define
class _Relay:
    frames: trio.MemoryReceiveChannel[bytes]
    scope: trio.CancelScope

    def close(self) -> None:
        self.scope.cancel()
        self.frames.close()


class StreamRelays:
    """Upstream readers of relayed streams, as tasks of one nursery (`run`)."""

    def __init__(self, cluster: ClusterClient, http_client: httpx.AsyncClient) -> None:
        self._cluster = cluster
        self._client = http_client
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def _open(self, node: ClusterNode, events_limit: int) -> _Relay:
        if self._nursery is None:
            raise RuntimeError("StreamRelays is not running")
        send, receive = trio.open_memory_channel[bytes](RELAY_BUFFER_FRAMES)
        scope = trio.CancelScope()
        self._nursery.start_soon(self._relay, node, events_limit, send, scope)
        return _Relay(receive, scope)

    async def _relay(
        self,
        node: ClusterNode,
        events_limit: int,
        send: trio.MemorySendChannel[bytes],
        scope: trio.CancelScope,
    ) -> None:
        """Copy the node's stream to `send`, reconnecting with backoff, until cancelled
        or until the client side is closed."""
        with scope, send:
            backoff = RELAY_BACKOFF_INITIAL_SECS
            try:
                while True:
                    try:
                        connected, reason = await self._copy_once(node, events_limit, send)
                    except trio.BrokenResourceError:
                        raise
                    except Exception as exc:  # one stream's bug stays in that stream
                        logger.exception("relaying the event stream of %s failed", node.node_id)
                        connected, reason = False, f"internal error: {exc.__class__.__name__}"
                    if connected:
                        backoff = RELAY_BACKOFF_INITIAL_SECS
                    await send.send(frame("node_error", {"node_id": node.node_id, "error": reason}))
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, RELAY_BACKOFF_MAX_SECS)
            except trio.BrokenResourceError:
                return  # the client went away

    async def _copy_once(
        self, node: ClusterNode, events_limit: int, send: trio.MemorySendChannel[bytes]
    ) -> tuple[bool, str]:
        """One upstream connection: whether it delivered a frame, and why it ended."""
        try:
            url, headers = self._cluster.signed_url(
                node, LOCAL_EVENTS_PATH, {"events_limit": events_limit}
            )
        except RemoteNodeError as exc:
            return False, exc.reason
        headers.update(
            {
                "Accept": "text/event-stream",
                "Cache-Control": "no-store",
                "Accept-Encoding": "identity",
            }
        )
        # No read timeout: the silence watch below bounds the wait for the answer's
        # head and for every chunk after it.
        timeout = httpx.Timeout(self._cluster.timeout_secs, read=None)
        decoder = EventStreamDecoder()
        connected = False
        failure: str | None = None
        with trio.CancelScope() as silence:
            silence.deadline = trio.current_time() + RELAY_SILENCE_SECS
            try:
                async with self._client.stream(
                    "GET", url, headers=headers, timeout=timeout
                ) as answer:
                    if answer.status_code != 200:
                        return False, await self._cluster.status_reason(answer)
                    kind = answer.headers.get("content-type", "").partition(";")[0].strip()
                    if kind != "text/event-stream":
                        return False, f"not an event stream (content type {kind or 'missing'})"
                    body = cast(AsyncGenerator[bytes, None], answer.aiter_bytes())
                    # Leaving early goes through a cancellation at the body's next read,
                    # which unwinds (and so closes) every layer of httpx's body generators.
                    with trio.CancelScope() as reading:
                        async with aclosing(body) as chunks:
                            async for chunk in chunks:
                                if failure is not None:
                                    continue  # until the cancellation reaches a read
                                # Our own client's pace is not the node's silence.
                                silence.deadline = math.inf
                                try:
                                    for item in decoder.feed(chunk):
                                        relayed = _relayed(item, node.node_id)
                                        if (
                                            isinstance(item, StreamFrame)
                                            and item.event in _CONTRACT_FRAMES
                                        ):
                                            connected = True
                                        if relayed is not None:
                                            await send.send(relayed)
                                except EventStreamError as exc:
                                    failure = f"invalid event stream: {exc}"
                                    reading.cancel()
                                silence.deadline = trio.current_time() + RELAY_SILENCE_SECS
            except httpx.HTTPError as exc:
                return connected, remote_transport_error(exc).reason
        if failure is not None:
            return connected, failure
        if silence.cancelled_caught:
            return connected, f"no data from {node.node_id} for {RELAY_SILENCE_SECS:g} s"
        return connected, "the node closed its event stream"

    async def frames(
        self, node: ClusterNode, *, events_limit: int, connected_at: str
    ) -> AsyncGenerator[bytes, None]:
        """The stream of `node` relayed to one client, behind our own `hello`.

        The node's keepalives and ours keep the stream alive together: one that
        comes right after another frame adds nothing and is not sent.
        """
        relay = self._open(node, events_limit)
        try:
            yield hello_frame(node.node_id, connected_at)
            last_frame = trio.current_time()
            while True:
                data: bytes | None = None
                with trio.move_on_at(last_frame + KEEPALIVE_SECS):
                    try:
                        data = await relay.frames.receive()
                    except trio.EndOfChannel:
                        return  # the server is stopping
                now = trio.current_time()
                if data == KEEPALIVE_FRAME and now - last_frame < KEEPALIVE_SECS / 2:
                    continue
                yield KEEPALIVE_FRAME if data is None else data
                last_frame = now
        finally:
            relay.close()
