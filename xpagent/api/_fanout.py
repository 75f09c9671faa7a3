"""Asking other nodes for their runtime: signed, concurrent, under one deadline.

`ClusterClient` is created once per process around the process's one
`httpx.AsyncClient`. `fetch_rows` asks every remote node at once in one nursery
(at most `max_concurrency` requests in flight) and gives up on all of them at the
same moment, `timeout_secs` after the call started, so the list answers within
that deadline however many nodes are down — the reference implementation asked
them one after the other and added a full timeout per dead node. Nothing is
retried inside the deadline. Calls made while one is under way for the same
nodes share it (`_single_flight`): many browsers cost one fan-out.

What a node says is only relayed, so it is not decoded into core values: its
answer is checked as JSON data and kept as encoded rows (`_relayed`), and after
the first answer only the slots that can have changed are asked for
(`slots_since`, `_slot_cache`); a node whose history changed underneath, or that
does not know the parameter, answers in full. Answers may come gzip-compressed
(`_compression.read_decoded` bounds what they inflate to). A `RelayedRow` is
rendered to JSON text when the list is written; `fetch_items` decodes rows into
`RuntimeItem`s for callers that want values.

A node that fails is not an error of the call: its row is unreachable, with the
reason and the slots it sent last time (the cache keeps one window per cluster
member).

Exceptions: the `RemoteNodeError` family (`_exceptions`' tree) for everything
that can go wrong with one node, each kind its own class: the deadline passed
(`RemoteTimeout`), the connection was refused or reset (`RemoteConnectionError`),
TLS failed (`RemoteTLSError`), the answer was not 2xx (`RemoteStatusError`), too
large, not JSON, or not a runtime detail (`RemoteBadAnswer`). An answer's bytes
are parsed in one place, `_parsed_json`, through the core's `parse_json`, so any
failure of decoding them (a 5000-digit integer, nesting too deep, a value out of
range) is such a reason and never an exception of another kind. Cancellation
from outside passes through untouched.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs
import httpx
import trio

from xpagent.core import (
    COMPONENTS,
    CodecError,
    ComponentState,
    ComponentStatus,
    RuntimeDetail,
    RuntimeItem,
    Summary,
    from_json_value,
    parse_json,
)
from xpagent.daemon import ClusterNode, WallClock, shorten_reason

from ._compression import ACCEPT_ENCODING, read_decoded
from ._exceptions import (
    RemoteBadAnswer,
    RemoteConfigError,
    RemoteNodeError,
    RemoteStatusError,
    RemoteTimeout,
    remote_transport_error,
)
from ._relayed import (
    MAX_REASON_DETAIL_CHARS,
    check_answering_node,
    head_text,
    invalid_answer,
    relayed_answer,
)
from ._routes import LOCAL_DETAIL_PATH
from ._signature import SIGNATURE_HEADER, sign
from ._single_flight import SingleFlight
from ._slot_cache import PeerWindow, SlotCache

__all__ = [
    "MAX_ANSWER_BYTES",
    "ClusterClient",
    "RelayedRow",
    "RemoteNodeError",
]

T = TypeVar("T")

#: A detail with 1000 events is well under 1 MiB; anything near this is not an answer.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
#: Of a non-2xx answer we only read enough to find its error message.
_MAX_ERROR_BODY_BYTES = 64 * 1024
_UNKNOWN_COMPONENTS = tuple(
    ComponentState(name, status=ComponentStatus.UNKNOWN) for name in COMPONENTS
)


def _shortened(text: str) -> str:
    return shorten_reason(text, MAX_REASON_DETAIL_CHARS)


def _error_message(body: bytes) -> str | None:
    """The `message` of a contract error body (`{"error": {"message": ...}}`), if any."""
    try:
        data: Any = parse_json(body)
    except CodecError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message.strip() else None


def _parsed_json(body: bytes) -> Any:
    """The one place a node's answer is parsed; raises RemoteBadAnswer only."""
    try:
        return parse_json(body)
    except CodecError:
        raise RemoteBadAnswer("invalid answer: not JSON") from None


def _parsed_detail(body: bytes, node: ClusterNode) -> RuntimeDetail:
    """A node's answer decoded in full (the detail route); raises RemoteBadAnswer only."""
    data = _parsed_json(body)
    try:
        detail = from_json_value(data, RuntimeDetail)
    except CodecError as exc:
        raise invalid_answer(str(exc)) from None
    check_answering_node(detail.node_id, node.node_id)
    return detail


@attrs.frozen
class RelayedRow:
    """One node's row of the list at `now`: its last answer's window, or — when it
    failed (`error`) — the unknown row with the slots it sent last (`window`, if any)."""

    node_id: str
    node_name: str
    error: str | None
    window: PeerWindow | None
    now: datetime
    #: The failure's `RemoteNodeError.kind`, with `error`.
    error_kind: str | None = None

    def json(self) -> str:
        """The row as JSON text (the contract's list item)."""
        slots = (
            self.window.slots_json(self.now)
            if self.window is not None
            else PeerWindow(None, "", {}, None).slots_json(self.now)
        )
        if self.error is None and self.window is not None:
            return f'{self.window.head_text},"recent_slots":{slots}}}'
        head = head_text(
            RuntimeItem(self.node_id, self.node_name, Summary.UNKNOWN, _UNKNOWN_COMPONENTS, ())
        )
        error = json.dumps(self.error or "no answer", ensure_ascii=False)
        kind = json.dumps(self.error_kind or RemoteNodeError.kind)
        return f'{head},"recent_slots":{slots},"error":{error},"error_kind":{kind}}}'

    def item(self) -> RuntimeItem:
        """The row decoded (for callers that want values rather than text)."""
        return from_json_value(parse_json(self.json()), RuntimeItem)


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
        # node_id → what its last good answers said. Only cluster members are asked,
        # and the list forgets those it no longer asks about.
        self._windows = SlotCache()
        self._flights: SingleFlight[tuple[ClusterNode, ...], list[RelayedRow]] = SingleFlight()

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

    async def fetch_detail(self, node: ClusterNode, *, events_limit: int) -> RuntimeDetail:
        """`node`'s detail with its newest `events_limit` events, normalised to now;
        raises RemoteNodeError if it does not answer well within the deadline."""
        deadline = trio.current_time() + self._timeout_secs
        body = await self._ask(
            functools.partial(self._get, node, {"events_limit": events_limit}), deadline
        )
        now = self._clock()
        detail = _parsed_detail(body, node).normalised(now)
        self._windows.store_detail(detail, now)
        return detail

    async def fetch_rows(self, nodes: Sequence[ClusterNode]) -> list[RelayedRow]:
        """One row per node of `nodes`, in that order, all asked at once under one
        deadline; a node that fails is an unreachable row with its reason. A call
        made while one for the same nodes is under way shares its rows.

        The deadline is this call's own (from now): a caller that joined a fan-out
        whose first caller went away runs it again within what is left of its own
        deadline, never a fresh one (CONTRACT §3: the deadline plus a small margin)."""
        key = tuple(nodes)
        deadline = trio.current_time() + self._timeout_secs
        return await self._flights.run(key, functools.partial(self._fetch_rows, key, deadline))

    async def fetch_items(self, nodes: Sequence[ClusterNode]) -> list[RuntimeItem]:
        """`fetch_rows`, decoded into items."""
        return [row.item() for row in await self.fetch_rows(nodes)]

    async def _fetch_rows(self, nodes: Sequence[ClusterNode], deadline: float) -> list[RelayedRow]:
        self._windows.keep_only({node.node_id for node in nodes})
        answers: list[PeerWindow | RemoteNodeError | None] = [None] * len(nodes)

        async def ask(index: int, node: ClusterNode) -> None:
            try:
                answers[index] = await self._ask(
                    functools.partial(self._get_window, node), deadline
                )
            except RemoteNodeError as exc:
                answers[index] = exc

        async with trio.open_nursery() as nursery:
            for index, node in enumerate(nodes):
                nursery.start_soon(ask, index, node)

        # One `now` for every row, so all bars show the same window.
        now = self._clock()
        rows = []
        for node, answer in zip(nodes, answers, strict=True):
            if isinstance(answer, PeerWindow):
                rows.append(RelayedRow(node.node_id, node.node_name, None, answer, now))
            else:
                reason = answer.reason if answer is not None else "no answer"
                kind = answer.kind if answer is not None else RemoteNodeError.kind
                window = self._windows.window(node.node_id)
                rows.append(
                    RelayedRow(node.node_id, node.node_name, reason, window, now, error_kind=kind)
                )
        return rows

    async def _ask(self, get: Callable[[], Awaitable[T]], deadline: float) -> T:
        """`get()` — one request to one node — given up at `deadline` (trio time).

        The wait for a free request slot counts against the deadline too, so the
        fan-out's bound holds however many nodes there are.
        """
        asked = False
        with trio.move_on_at(deadline):
            async with self._limiter:
                asked = True
                return await get()
        if not asked:
            # Say so: this node was never asked, the slots were held by others.
            raise RemoteTimeout(
                f"timed out after {self._timeout_secs:g}s waiting for a free request slot "
                f"({self._limiter.total_tokens:g} requests in flight)"
            )
        raise RemoteTimeout(f"timed out after {self._timeout_secs:g}s")

    async def _get_window(self, node: ClusterNode) -> PeerWindow:
        """Ask `node` for what changed since its window in the cache, and merge it."""
        params, base = self._windows.query(node.node_id, self._clock())
        body = await self._get(node, {"events_limit": 0, **params})
        answer = relayed_answer(
            _parsed_json(body), node.node_id, known_head=base.head if base else None
        )
        return self._windows.store(
            node.node_id, answer, base=base, incremental=bool(params), now=self._clock()
        )

    async def _get(self, node: ClusterNode, params: Mapping[str, str | int]) -> bytes:
        """The body of a signed GET of `node`'s local detail with `params`."""
        url, headers = self.signed_url(node, LOCAL_DETAIL_PATH, params)
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        try:
            async with self._http.stream("GET", url, headers=headers) as response:
                if not response.is_success:
                    raise RemoteStatusError(
                        await self.status_reason(response), response.status_code
                    )
                body = await read_decoded(response, MAX_ANSWER_BYTES)
        except httpx.HTTPError as exc:
            raise remote_transport_error(exc) from None
        if body is None:
            raise RemoteBadAnswer(f"answer too large (over {MAX_ANSWER_BYTES // 2**20} MiB)")
        return body

    @staticmethod
    async def status_reason(response: httpx.Response) -> str:
        """`HTTP 503`, with the message of the node's JSON error body when it has one."""
        reason = f"HTTP {response.status_code}"
        try:
            body = await read_decoded(response, _MAX_ERROR_BODY_BYTES)
        except (httpx.HTTPError, RemoteBadAnswer):
            # The status says enough; a body broken off is no reason to hide it.
            return reason
        message = _error_message(body) if body is not None else None
        return f"{reason}: {_shortened(message)}" if message else reason
