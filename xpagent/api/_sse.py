"""Server-Sent Events: the frames, a node's own stream, and the relay of another's.

A stream starts with `hello` then `snapshot`; it carries `event` frames (with the
SSE `id:`), `lagged` plus a fresh `snapshot` when this client fell behind, a
`snapshot` after events (so cards stay current: a quarter of a second after the
first event of a burst, at most once a second), and a
`: keepalive` comment at least every 15 s. A relayed stream adds `node_error`
while the other node cannot be reached, and keeps the client's stream open.

The response generators own nothing long-lived: the local one holds a hub
subscription in a `with` block; the relay's upstream reader runs as a task of
`StreamRelays` (a nursery started with the server), tied to the generator by a
cancel scope that the generator's `finally` cancels — so a client that goes away
releases its subscription or upstream connection at once, however quiet the node.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncGenerator, Callable

import attrs
import httpx
import trio
from httpx_sse import SSEError, aconnect_sse

from xpagent.core import Event, to_json_value
from xpagent.daemon import ClusterNode, Hub, Lagged, describe_transport_error, logger

from ._fanout import ClusterClient, RemoteNodeError

__all__ = [
    "KEEPALIVE_SECS",
    "RELAY_BACKOFF_MAX_SECS",
    "SNAPSHOT_MIN_GAP_SECS",
    "SNAPSHOT_SETTLE_SECS",
    "StreamRelays",
    "frame",
    "local_frames",
]

KEEPALIVE_SECS = 15.0
SNAPSHOT_MIN_GAP_SECS = 1.0
#: A snapshot follows the first event of a burst by at least this much.
SNAPSHOT_SETTLE_SECS = 0.25
RELAY_BACKOFF_INITIAL_SECS = 1.0
RELAY_BACKOFF_MAX_SECS = 30.0
#: An upstream that sends nothing (not even its keepalive) for this long is dead.
RELAY_READ_TIMEOUT_SECS = 3 * KEEPALIVE_SECS
RELAY_BUFFER_FRAMES = 64
KEEPALIVE_FRAME = b": keepalive\n\n"
LOCAL_EVENTS_PATH = "/api/admin/_internal/nodes/runtime/local/events"


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
        """One upstream connection: whether it was established, and why it ended."""
        try:
            url, headers = self._cluster.signed_url(
                node, LOCAL_EVENTS_PATH, {"events_limit": events_limit}
            )
        except RemoteNodeError as exc:
            return False, exc.reason
        timeout = httpx.Timeout(self._cluster.timeout_secs, read=RELAY_READ_TIMEOUT_SECS)
        connected = False
        try:
            async with aconnect_sse(
                self._client, "GET", str(url), headers=headers, timeout=timeout
            ) as source:
                if source.response.status_code != 200:
                    return False, await self._cluster.status_reason(source.response)
                async for sse in source.aiter_sse():
                    # Only a stream that delivered a frame counts as connected: a node
                    # answering 200 with something else must not reset the backoff.
                    connected = True
                    if sse.event == "hello":
                        continue  # the client has ours
                    await send.send(frame(sse.event, sse.data, event_id=sse.id or None))
        except SSEError as exc:  # an httpx.TransportError: catch it first
            return connected, f"not an event stream: {exc}"
        except httpx.HTTPError as exc:
            return connected, describe_transport_error(exc)
        return connected, "the node closed its event stream"

    async def frames(
        self, node: ClusterNode, *, events_limit: int, connected_at: str
    ) -> AsyncGenerator[bytes, None]:
        """The stream of `node` relayed to one client, behind our own `hello`."""
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
                yield KEEPALIVE_FRAME if data is None else data
                last_frame = trio.current_time()
        finally:
            relay.close()
