"""Incremental fetches: what the aggregator remembers of each node's slots, and how a
node answers "the slots since T".

Only the slot in progress (and, just after a boundary, the one before it) changes
from one list call to the next, so the aggregator asks each node for the slots
from `since` on, where `since` is the slot before the node's slot in progress at
its previous answer, with `slots_digest`, the fingerprint of the slots it holds
for that node from the start of its own window up to `since`:

    GET …/_internal/nodes/runtime/local?events_limit=0&slots_since=2026-11-28T10:00:00Z
        &slots_digest=5f0c…

A node that knows the parameters compares the fingerprint with its own slots over
the same stretch (from the start of *its* window). Equal: it answers the detail
with only the slots from `since` on and says so (`"slots_since": "…"`); the
aggregator keeps its older slots and replaces the rest. Different — its history
changed underneath (a state reset, a clock set back over earlier slots, a restart
that lost the last seconds) or the two clocks straddle a slot boundary — it
answers in full, as does a node that does not know the parameters (an older
version). Either way what the aggregator shows equals a full fetch.

The cache holds one `PeerWindow` per node asked, and forgets the nodes that are
no longer in the cluster it is asked about (`keep_only`): it is bounded by the
cluster file. A window's slots are tails (see `_relayed`) by Unix second; a window
is never changed in place, so a row rendered from it stays consistent while a
newer fetch replaces it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from xpagent.core import (
    SLOT_SECS,
    WINDOW_SLOTS,
    NodeRuntime,
    RuntimeDetail,
    RuntimeItem,
    Slot,
    format_time,
    to_json_value,
    window_start_of,
)

from ._exceptions import RemoteBadAnswer
from ._relayed import (
    EMPTY_TAIL,
    RelayedAnswer,
    head_text,
    slot_prefix,
    slot_tail,
    slots_digest,
)

__all__ = [
    "PeerWindow",
    "SlotCache",
    "answered_slots",
    "detail_since_json",
    "epoch_of",
    "window_texts",
]


def epoch_of(moment: datetime) -> int:
    """Whole Unix seconds of `moment`."""
    return int(moment.timestamp() // 1)


def _first_of_window(now: datetime) -> int:
    return epoch_of(window_start_of(now))


@attrs.frozen
class PeerWindow:
    """What the aggregator holds of one node: the encoded head of its last answer (and
    that head as sent, to skip decoding an unchanged one), its slots' tails by start,
    and the start to ask from next time (None: ask for everything)."""

    head: Mapping[str, Any] | None
    head_text: str
    tails: Mapping[int, str]
    since: int | None
    #: (window start, digest) of the slots before `since`, computed at most once: they
    #: do not change until `since` does. (Their joined text is not kept: at 500 nodes
    #: it cost 22 MiB and saved no measurable CPU.)
    _digest: list[tuple[int, str]] = attrs.field(factory=list, eq=False, repr=False)

    def texts(self, first: int, until: int) -> Iterable[str]:
        """The texts of the slots from `first` up to `until` (Unix seconds)."""
        tails = self.tails
        for start in range(first, until, SLOT_SECS):
            yield slot_prefix(start) + tails.get(start, EMPTY_TAIL)

    def digest(self, first: int) -> str:
        """The fingerprint of the slots from `first` up to `since`."""
        assert self.since is not None
        for start, digest in self._digest:
            if start == first:
                return digest
        digest = slots_digest(self.texts(first, self.since))
        self._digest[:] = [(first, digest)]
        return digest

    def slots_json(self, now: datetime) -> str:
        """The 336 slots of the window at `now`, encoded (`[…]`); unknown where none."""
        first = _first_of_window(now)
        return "[" + ",".join(self.texts(first, first + WINDOW_SLOTS * SLOT_SECS)) + "]"


class SlotCache:
    """The aggregator's `PeerWindow` per node id (I/O shell state, one per client)."""

    def __init__(self) -> None:
        self._windows: dict[str, PeerWindow] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def window(self, node_id: str) -> PeerWindow | None:
        return self._windows.get(node_id)

    def keep_only(self, node_ids: Collection[str]) -> None:
        """Forget the nodes not in `node_ids` (no longer in the cluster asked about)."""
        for node_id in [known for known in self._windows if known not in node_ids]:
            del self._windows[node_id]

    def query(self, node_id: str, now: datetime) -> tuple[dict[str, str], PeerWindow | None]:
        """The incremental-fetch parameters for `node_id` at `now` (none: ask in full),
        and the window they were computed from (to give back to `store`)."""
        window = self._windows.get(node_id)
        if window is None or window.since is None:
            return {}, window
        since = window_start_of(now) + timedelta(seconds=window.since - _first_of_window(now))
        params = {
            "slots_since": format_time(since),
            "slots_digest": window.digest(_first_of_window(now)),
        }
        return params, window

    def store(
        self,
        node_id: str,
        answer: RelayedAnswer,
        *,
        base: PeerWindow | None,
        incremental: bool,
        now: datetime,
    ) -> PeerWindow:
        """Merge `answer` into the node's window: `base` is the window `query` gave for
        the request, `incremental` whether the request asked for slots since its
        `since`. Raises RemoteBadAnswer for incremental slots that were not asked for."""
        head_text = answer.head_text or (base.head_text if base is not None else "")
        if not head_text:
            # `relayed_answer` reuses a head only when given one: it came from `base`.
            raise RemoteBadAnswer("invalid answer: no head")
        tails: dict[int, str]
        if answer.slots_since is None:
            tails = dict(answer.tails)
        elif base is None or not incremental or base.since != answer.slots_since:
            raise RemoteBadAnswer("invalid answer: slots since a time that was not asked for")
        else:
            since = answer.slots_since
            tails = {start: tail for start, tail in base.tails.items() if start < since}
            tails.update(answer.tails)
        first = _first_of_window(now)
        for start in [start for start in tails if start < first]:
            del tails[start]
        newest = max(answer.tails, default=None)
        since_next = newest - SLOT_SECS if newest is not None else answer.slots_since
        window = PeerWindow(answer.head, head_text, tails, since_next)
        if base is not None and answer.slots_since is not None and since_next == base.since:
            # The slots before `since` are those the digest was computed over.
            window._digest[:] = base._digest
        self._windows[node_id] = window
        return window

    def store_detail(self, detail: RuntimeDetail, now: datetime) -> PeerWindow:
        """Remember a detail decoded in full (the detail route): its slots replace the
        node's window."""
        tails = {epoch_of(slot.slot_start): slot_tail(slot) for slot in detail.recent_slots}
        newest = max(tails, default=None)
        first = _first_of_window(now)
        window = PeerWindow(
            None,
            head_text(detail.as_item()),
            {start: tail for start, tail in tails.items() if start >= first},
            newest - SLOT_SECS if newest is not None else None,
        )
        self._windows[detail.node_id] = window
        return window


# --- the answering node's side --------------------------------------------------------


def window_texts(slots: Sequence[Slot]) -> list[str]:
    """The texts of a node's own window (`recent_slots(now)`, 336 aligned slots)."""
    return [slot_prefix(epoch_of(slot.slot_start)) + slot_tail(slot) for slot in slots]


def detail_since_json(
    runtime: NodeRuntime,
    node_name: str,
    now: datetime,
    *,
    events_limit: int,
    since: int,
    digest: str | None,
    texts: Sequence[str] | None = None,
) -> str | None:
    """A node's answer at `now` to a request for its slots since Unix second `since`
    carrying `digest`: its detail with only those slots and `"slots_since"`, or None
    when the digest does not match (the full detail must be sent). `texts` are
    `window_texts(runtime.recent_slots(now))` when the caller has them already."""
    if texts is None:
        texts = window_texts(runtime.recent_slots(now))
    selected = answered_slots(texts, epoch_of(window_start_of(now)), since=since, digest=digest)
    if selected is None:
        return None
    item = RuntimeItem(
        node_id=runtime.node_id,
        node_name=node_name,
        summary=runtime.summary,
        components=runtime.component_states,
        recent_slots=(),
    )
    events = _dumps(to_json_value(runtime.event_log.latest(events_limit)))
    since_text = _dumps(format_time(datetime.fromtimestamp(since, UTC)))
    return (
        f'{head_text(item)},"recent_slots":[{",".join(selected)}],'
        f'"events":{events},"slots_since":{since_text}}}'
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def answered_slots(
    texts: Sequence[str], first: int, *, since: int, digest: str | None
) -> list[str] | None:
    """Of a node's window texts (the window starting at Unix second `first`), those to
    answer a request for the slots since `since` carrying `digest`: the slots from
    `since` on when the digest matches the slots before it (or none was given), None
    when it does not (the whole window must be sent)."""
    cut = min(max((since - first) // SLOT_SECS, 0), len(texts))
    if digest is not None and slots_digest(texts[:cut]) != digest:
        return None
    return list(texts[cut:])
