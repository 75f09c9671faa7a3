"""The HTTP API of CONTRACT §3 on a Quart-Trio app.

Routes are closures over one `Api` value (no module globals). Authentication runs
before every request: `/api/admin/_internal/*` needs a fresh internal signature
and never takes the bearer token alone; the rest of `/api/admin/*` needs the
bearer token when one is set, and so does `/metrics`. Every error is the
contract's JSON shape.
"""

from __future__ import annotations

import hmac
import json
import re
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Any, NoReturn

import attrs
import trio
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from xpagent import __version__
from xpagent.core import (
    SLOT_SECS,
    NodeRuntime,
    format_time,
    parse_time,
    runtime_detail,
    runtime_item,
    slot_start_of,
    to_json_value,
)
from xpagent.daemon import ClusterNode, NodeHandle, logger

from ._compression import compress_json_answers
from ._fanout import ClusterClient, RemoteNodeError
from ._metrics import register_metrics
from ._routes import (
    ADMIN_PREFIX,
    HEALTH_PATH,
    INTERNAL_PREFIX,
    LOCAL_DETAIL_PATH,
    LOCAL_EVENTS_PATH,
    METRICS_PATH,
    NODE_EVENTS_PATH,
    NODE_PATH,
    NODE_RUNTIME_PATH,
    NODES_PATH,
    RUNTIME_LIST_PATH,
)
from ._signature import SIGNATURE_HEADER, SignatureError, verify
from ._slot_cache import detail_since_json, epoch_of, window_texts
from ._sse import StreamRelays, local_frames
from ._web import register_web_ui

__all__ = ["Api", "ApiError", "create_app"]

EVENTS_LIMIT_DEFAULT = 200
EVENTS_LIMIT_MAX = 1000
JSON_CACHE_ENTRIES = 8
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
}


ERROR_STATUS = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "unavailable": 503,
    "internal": 500,
}


class ApiError(Exception):
    """An answer in the contract's error shape: `{"error": {"code", "message"}}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def response(self) -> Response:
        body = json.dumps({"error": {"code": self.code, "message": self.message}})
        return Response(body, status=ERROR_STATUS[self.code], content_type="application/json")


def _json_text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="application/json")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json(value: Any, status: int = 200) -> Response:
    return _json_text(_dumps(value), status)


@attrs.define
class Api:
    """What the routes need: the node, the cluster client and the stream relays."""

    node: NodeHandle
    cluster: ClusterClient
    relays: StreamRelays
    sse_streams: int = 0
    _json_cache: dict[int | None, tuple[NodeRuntime, datetime, str]] = attrs.field(
        factory=dict, init=False
    )
    _window_texts: tuple[NodeRuntime, datetime, list[str]] | None = attrs.field(
        default=None, init=False
    )

    @property
    def node_id(self) -> str:
        return self.node.settings.node_id

    def cluster_node(self, node_id: str) -> ClusterNode:
        for node in self.node.settings.cluster:
            if node.node_id == node_id:
                return node
        raise ApiError("not_found", f"node not found: {node_id}")

    def local_json(self, events_limit: int | None) -> str:
        """This node's detail (with `events_limit` events), or its list row (None),
        as JSON text, built once per state, slot and limit.

        Every snapshot of every stream and every request between two probe ticks
        shares one encoding.
        """
        recorder = self.node.recorder
        runtime, now = recorder.runtime, recorder.now()
        slot = slot_start_of(now)
        cached = self._json_cache.get(events_limit)
        if cached is not None and cached[0] is runtime and cached[1] == slot:
            return cached[2]
        name = self.node.settings.node_name
        body = (
            runtime_item(runtime, name, now)
            if events_limit is None
            else runtime_detail(runtime, name, now, events_limit=events_limit)
        )
        text = _dumps(to_json_value(body))
        if len(self._json_cache) >= JSON_CACHE_ENTRIES:
            self._json_cache.clear()
        self._json_cache[events_limit] = (runtime, slot, text)
        return text

    def local_slots_json(self, events_limit: int, since: int, digest: str | None) -> str:
        """This node's detail for a request of the slots since Unix second `since`
        (`slots_since`, `slots_digest`; see `_slot_cache`): only those slots, marked
        with `slots_since`, when `digest` matches the slots before them — the full
        detail otherwise."""
        recorder = self.node.recorder
        runtime, now = recorder.runtime, recorder.now()
        slot = slot_start_of(now)
        cached = self._window_texts
        if cached is None or cached[0] is not runtime or cached[1] != slot:
            cached = self._window_texts = (runtime, slot, window_texts(runtime.recent_slots(now)))
        answer = detail_since_json(
            runtime,
            self.node.settings.node_name,
            now,
            events_limit=events_limit,
            since=since,
            digest=digest,
            texts=cached[2],
        )
        return answer if answer is not None else self.local_json(events_limit)

    def open_stream_slot(self) -> _StreamSlot:
        """Reserve one of the `XP_SSE_MAX_STREAMS` slots, or refuse with 503."""
        limit = self.node.settings.sse_max_streams
        if self.sse_streams >= limit:
            raise ApiError(
                "unavailable",
                f"this node already serves {self.sse_streams} event streams "
                f"(XP_SSE_MAX_STREAMS={limit})",
            )
        self.sse_streams += 1
        return _StreamSlot(self)


@attrs.define
class _StreamSlot:
    """One reserved stream; released once, whichever way the stream ends."""

    api: Api
    held: bool = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.api.sse_streams -= 1


async def _holding(slot: _StreamSlot, frames: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    """`frames`, holding `slot` while the client is connected."""
    try:
        async with aclosing(frames):
            async for chunk in frames:
                yield chunk
    finally:
        slot.release()


def _events_limit() -> int:
    raw = request.args.get("events_limit")
    if raw is None:
        return EVENTS_LIMIT_DEFAULT
    if not re.fullmatch(r"[0-9]{1,4}", raw) or int(raw) > EVENTS_LIMIT_MAX:
        raise ApiError(
            "invalid_request",
            f"events_limit={raw!r} is not an integer in 0..={EVENTS_LIMIT_MAX}",
        )
    return int(raw)


def _slots_since() -> tuple[int, str | None] | None:
    """`slots_since` (as Unix seconds, on a slot boundary) and `slots_digest`, if asked."""
    raw = request.args.get("slots_since")
    digest = request.args.get("slots_digest")
    if raw is None:
        return None
    try:
        since = parse_time(raw)
    except ValueError:
        since = None
    if since is None or since.microsecond or epoch_of(since) % SLOT_SECS:
        raise ApiError(
            "invalid_request", f"slots_since={raw[:40]!r} is not the start of a slot (RFC 3339)"
        )
    if digest is not None and not re.fullmatch(r"[0-9a-f]{1,64}", digest):
        raise ApiError("invalid_request", f"slots_digest={digest[:40]!r} is not a hex digest")
    return epoch_of(since), digest


def _request_target() -> str:
    """The path and query exactly as the client sent them (what signatures cover)."""
    raw_path = request.scope.get("raw_path") or request.path.encode()
    target = raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"")
    return f"{target}?{query.decode('latin-1')}" if query else target


def _unauthorized(message: str) -> NoReturn:
    raise ApiError("unauthorized", message)


def create_app(api: Api) -> QuartTrio:
    """The Quart-Trio app serving `api`."""
    app = QuartTrio("xpagent")
    # `/api//admin/...` must not be redirected to a route: answer 404 like any path.
    app.url_map.merge_slashes = False
    settings = api.node.settings

    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return error.response()

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        code = {404: "not_found", 405: "invalid_request"}.get(error.code or 500, "internal")
        if code == "internal" and (error.code or 500) < 500:
            code = "invalid_request"
        return ApiError(code, error.description or error.name).response()

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        logger.error("unexpected error serving %s", request.path, exc_info=error)
        return ApiError("internal", "internal error").response()

    @app.before_request
    async def authenticate() -> None:
        path = request.path
        if path.startswith(INTERNAL_PREFIX):
            header = request.headers.get(SIGNATURE_HEADER)
            try:
                verify(
                    settings.cluster_secret,
                    header,
                    request.method,
                    _request_target(),
                    now_ts=int(api.node.recorder.now().timestamp()),
                )
            except SignatureError as exc:
                _unauthorized(f"internal signature refused: {exc}")
        elif (path.startswith(ADMIN_PREFIX) or path == METRICS_PATH) and settings.admin_token:
            given = request.headers.get("Authorization", "")
            expected = f"Bearer {settings.admin_token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                _unauthorized("missing or wrong bearer token")

    @app.get(HEALTH_PATH)
    async def health() -> Response:
        return _json(
            {
                "status": "ok",
                "node_id": api.node_id,
                "version": __version__,
                "uptime_secs": int(trio.current_time() - api.node.started_at),
                "sse_streams": api.sse_streams,
            }
        )

    @app.get(NODES_PATH)
    async def nodes() -> Response:
        return _json({"items": to_json_value(settings.cluster)})

    @app.get(RUNTIME_LIST_PATH)
    async def nodes_runtime() -> Response:
        remote = [node for node in settings.cluster if node.node_id != api.node_id]
        rows = {row.node_id: row for row in await api.cluster.fetch_rows(remote)}
        unreachable = sorted(row.node_id for row in rows.values() if row.error is not None)
        head = _dumps({"partial": bool(unreachable), "unreachable_nodes": unreachable})
        local = api.local_json(None)

        async def body() -> AsyncIterator[bytes]:
            # The RuntimeList shape, written row by row from encoded rows (the local
            # row's cached encoding as it is): a 500-node list is ~25 MB of text,
            # never held whole (nor, gzipped, at all).
            yield f'{head[:-1]},"items":['.encode()
            for index, node in enumerate(settings.cluster):
                row = local if node.node_id == api.node_id else rows[node.node_id].json()
                yield (f",{row}" if index else row).encode()
            yield b"]}"

        return Response(body(), content_type="application/json")

    @app.get(NODE_PATH)
    async def node(node_id: str) -> Response:
        return _json(to_json_value(api.cluster_node(node_id)))

    @app.get(NODE_RUNTIME_PATH)
    async def node_runtime(node_id: str) -> Response:
        target = api.cluster_node(node_id)
        events_limit = _events_limit()
        if node_id == api.node_id:
            return _json_text(api.local_json(events_limit))
        try:
            detail = await api.cluster.fetch_detail(target, events_limit=events_limit)
        except RemoteNodeError as exc:
            raise ApiError("unavailable", f"node {node_id} is unreachable: {exc}") from None
        return _json(to_json_value(detail))

    def event_stream(frames: AsyncGenerator[bytes, None]) -> Response:
        # The slot is taken here, before any await, so concurrent requests cannot all
        # pass the limit; a body that is never iterated frees it when collected.
        slot = api.open_stream_slot()
        body = _holding(slot, frames)
        weakref.finalize(body, slot.release)
        response = Response(body, status=200, headers=SSE_HEADERS)
        response.timeout = None  # only event streams may outlive the response timeout
        return response

    def local_stream(events_limit: int) -> Response:
        recorder = api.node.recorder
        return event_stream(
            local_frames(
                node_id=api.node_id,
                hub=recorder.hub,
                snapshot=lambda: api.local_json(events_limit),
                connected_at=format_time(recorder.now()),
            )
        )

    @app.get(NODE_EVENTS_PATH)
    async def node_events(node_id: str) -> Response:
        target = api.cluster_node(node_id)
        events_limit = _events_limit()
        if node_id == api.node_id:
            return local_stream(events_limit)
        connected_at = format_time(api.node.recorder.now())
        return event_stream(
            api.relays.frames(target, events_limit=events_limit, connected_at=connected_at)
        )

    @app.get(LOCAL_DETAIL_PATH)
    async def internal_runtime() -> Response:
        events_limit = _events_limit()
        asked = _slots_since()
        if asked is None:
            return _json_text(api.local_json(events_limit))
        return _json_text(api.local_slots_json(events_limit, *asked))

    @app.get(LOCAL_EVENTS_PATH)
    async def internal_events() -> Response:
        return local_stream(_events_limit())

    register_metrics(app, api.node)
    register_web_ui(app)
    compress_json_answers(app)
    return app
