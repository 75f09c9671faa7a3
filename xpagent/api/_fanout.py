"""Asking other nodes for their runtime: signed, concurrent, under one deadline.

`ClusterClient` is created once per process around the process's one
`httpx.AsyncClient`. `fetch_items` asks every remote node at once in one
nursery (at most `max_concurrency` requests in flight) and gives up on all of
them at the same moment, `timeout_secs` after the call started, so the list
answers within that deadline however many nodes are down — the reference
implementation asked them one after the other and added a full timeout per dead
node. Nothing is retried inside the deadline.

A node that fails is not an error of the call: its item is
`unreachable_item(...)` with the reason and the slots it sent last time, which
the client remembers per node (one window of 336 slots per cluster member).

Exceptions: the `RemoteNodeError` family (`_exceptions`' tree) for everything
that can go wrong with one node, each kind its own class: the deadline passed
(`RemoteTimeout`), the connection was refused or reset (`RemoteConnectionError`),
TLS failed (`RemoteTLSError`), the answer was not 2xx (`RemoteStatusError`), too
large, not JSON, or not a runtime detail (`RemoteBadAnswer`). An answer's bytes
are decoded in one place, `_parsed_detail`, through the core's `parse_json` and
converter, so any failure of decoding them (a 5000-digit integer, nesting too
deep, a value out of range) is such a reason and never an exception of another
kind. Cancellation from outside passes through untouched.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Any, cast

import httpx
import trio

from xpagent.core import (
    CodecError,
    RuntimeDetail,
    RuntimeItem,
    Slot,
    from_json_value,
    parse_json,
    unreachable_item,
)
from xpagent.daemon import ClusterNode, WallClock, shorten_reason

from ._exceptions import (
    RemoteBadAnswer,
    RemoteConfigError,
    RemoteNodeError,
    RemoteStatusError,
    RemoteTimeout,
    remote_transport_error,
)
from ._routes import LOCAL_DETAIL_PATH
from ._signature import SIGNATURE_HEADER, sign

__all__ = [
    "MAX_ANSWER_BYTES",
    "ClusterClient",
    "RemoteNodeError",
]

#: A detail with 1000 events is well under 1 MiB; anything near this is not an answer.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
#: Of a non-2xx answer we only read enough to find its error message.
_MAX_ERROR_BODY_BYTES = 64 * 1024
_MAX_REASON_DETAIL_CHARS = 160


def _shortened(text: str) -> str:
    return shorten_reason(text, _MAX_REASON_DETAIL_CHARS)


def _error_message(body: bytes) -> str | None:
    """The `message` of a contract error body (`{"error": {"message": ...}}`), if any."""
    try:
        data: Any = parse_json(body)
    except CodecError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message.strip() else None


async def _read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than `limit` bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    # Stopping early leaves httpx's inner body generators to the garbage collector,
    # which trio reports as a ResourceWarning (encode/httpx#3686); the connection is
    # closed when the caller's `stream()` block ends. aclosing at least closes ours.
    async with aclosing(cast(AsyncGenerator[bytes, None], response.aiter_bytes())) as body:
        async for chunk in body:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


def _parsed_detail(body: bytes, node: ClusterNode) -> RuntimeDetail:
    """The one place a node's answer is decoded; raises RemoteBadAnswer only."""
    try:
        data: Any = parse_json(body)
    except CodecError:
        raise RemoteBadAnswer("invalid answer: not JSON") from None
    try:
        detail = from_json_value(data, RuntimeDetail)
    except CodecError as exc:
        raise RemoteBadAnswer(f"invalid answer: {_shortened(str(exc))}") from None
    if detail.node_id != node.node_id:
        # The cluster file points at another node's URL: showing its data under
        # this node's name would be a lie.
        raise RemoteBadAnswer(
            f"invalid answer: it comes from node {_shortened(detail.node_id)!r}, "
            f"not {node.node_id!r}"
        )
    return detail


class ClusterClient:
    """Signed requests to the other nodes of the cluster; one per process.

    `key` is the cluster secret (None on a node without one: every request then
    fails with a reason saying so). `timeout_secs` is the fan-out deadline
    (`XP_RUNTIME_FANOUT_TIMEOUT_SECS`); `clock` gives the wall time used for
    signatures and for aligning slots.
    """

    def __init__(
        self,
        http_client: httpx.AsyncClient,
        *,
        key: bytes | None,
        timeout_secs: float,
        clock: WallClock,
        max_concurrency: int = 32,
    ) -> None:
        self._http = http_client
        self._key = key
        self._timeout_secs = timeout_secs
        self._clock = clock
        self._limiter = trio.CapacityLimiter(max_concurrency)
        # node_id → the slots of its last good answer. Only cluster members are ever
        # asked, so this holds at most one window per member.
        self._last_slots: dict[str, tuple[Slot, ...]] = {}

    @property
    def timeout_secs(self) -> float:
        """The fan-out deadline for one remote node."""
        return self._timeout_secs

    def signed_headers(self, method: str, path_and_query: str) -> dict[str, str]:
        """The signature header for a request sent now (`path_and_query` as sent)."""
        if not self._key:
            raise RemoteConfigError("this node has no cluster secret")
        ts = int(self._clock().timestamp())
        return {SIGNATURE_HEADER: sign(self._key, method, path_and_query, ts)}

    def signed_url(
        self, node: ClusterNode, path: str, params: Mapping[str, str | int] | None = None
    ) -> tuple[httpx.URL, dict[str, str]]:
        """The URL of `path` on `node` and the headers signing a GET of it.

        The signature covers the request target httpx will send for that URL,
        so a base URL with a path prefix or a trailing slash is signed right.
        """
        try:
            url = httpx.URL(node.api_base_url.rstrip("/") + path, params=params)
        except httpx.InvalidURL as exc:
            raise RemoteConfigError(f"bad API URL: {_shortened(str(exc))}") from None
        # `raw_path` is the request target httpx sends: path and query, as encoded.
        return url, self.signed_headers("GET", url.raw_path.decode("ascii"))

    def last_slots(self, node_id: str) -> tuple[Slot, ...]:
        """The slots `node_id` sent in its last good answer (empty if none yet)."""
        return self._last_slots.get(node_id, ())

    async def fetch_detail(self, node: ClusterNode, *, events_limit: int) -> RuntimeDetail:
        """`node`'s detail with its newest `events_limit` events, normalised to now;
        raises RemoteNodeError if it does not answer well within the deadline."""
        deadline = trio.current_time() + self._timeout_secs
        detail = await self._ask(node, events_limit=events_limit, deadline=deadline)
        return self._remembered(node, detail, self._clock())

    async def fetch_items(self, nodes: Sequence[ClusterNode]) -> list[RuntimeItem]:
        """One item per node of `nodes`, in that order, all asked at once under one
        deadline; a node that fails is an unreachable item with its reason."""
        deadline = trio.current_time() + self._timeout_secs
        answers: list[RuntimeDetail | RemoteNodeError | None] = [None] * len(nodes)

        async def ask(index: int, node: ClusterNode) -> None:
            try:
                answers[index] = await self._ask(node, events_limit=0, deadline=deadline)
            except RemoteNodeError as exc:
                answers[index] = exc

        async with trio.open_nursery() as nursery:
            for index, node in enumerate(nodes):
                nursery.start_soon(ask, index, node)

        # One `now` for every row, so all bars show the same window.
        now = self._clock()
        items: list[RuntimeItem] = []
        for node, answer in zip(nodes, answers, strict=True):
            if isinstance(answer, RuntimeDetail):
                items.append(self._remembered(node, answer, now).as_item())
            else:
                reason = answer.reason if answer is not None else "no answer"
                items.append(
                    unreachable_item(
                        node.node_id, node.node_name, reason, self.last_slots(node.node_id), now
                    )
                )
        return items

    def _remembered(self, node: ClusterNode, detail: RuntimeDetail, now: datetime) -> RuntimeDetail:
        normalised = detail.normalised(now)
        self._last_slots[node.node_id] = normalised.recent_slots
        return normalised

    async def _ask(self, node: ClusterNode, *, events_limit: int, deadline: float) -> RuntimeDetail:
        """One signed GET of `node`'s local detail, given up at `deadline` (trio time).

        The wait for a free request slot counts against the deadline too, so the
        fan-out's bound holds however many nodes there are.
        """
        asked = False
        with trio.move_on_at(deadline):
            async with self._limiter:
                asked = True
                return await self._get_detail(node, events_limit)
        if not asked:
            # Say so: this node was never asked, the slots were held by others.
            raise RemoteTimeout(
                f"timed out after {self._timeout_secs:g}s waiting for a free request slot "
                f"({self._limiter.total_tokens:g} requests in flight)"
            )
        raise RemoteTimeout(f"timed out after {self._timeout_secs:g}s")

    async def _get_detail(self, node: ClusterNode, events_limit: int) -> RuntimeDetail:
        url, headers = self.signed_url(node, LOCAL_DETAIL_PATH, {"events_limit": events_limit})
        # Uncompressed, so the size cap below bounds what we hold in memory.
        headers["Accept-Encoding"] = "identity"
        try:
            async with self._http.stream("GET", url, headers=headers) as response:
                if not response.is_success:
                    raise RemoteStatusError(
                        await self.status_reason(response), response.status_code
                    )
                body = await _read_capped(response, MAX_ANSWER_BYTES)
        except httpx.HTTPError as exc:
            raise remote_transport_error(exc) from None
        if body is None:
            raise RemoteBadAnswer(f"answer too large (over {MAX_ANSWER_BYTES // 2**20} MiB)")
        return _parsed_detail(body, node)

    @staticmethod
    async def status_reason(response: httpx.Response) -> str:
        """`HTTP 503`, with the message of the node's JSON error body when it has one."""
        reason = f"HTTP {response.status_code}"
        try:
            body = await _read_capped(response, _MAX_ERROR_BODY_BYTES)
        except httpx.HTTPError:
            # The status says enough; a body broken off is no reason to hide it.
            return reason
        message = _error_message(body) if body is not None else None
        return f"{reason}: {_shortened(message)}" if message else reason
