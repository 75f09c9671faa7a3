"""Another node's answer, checked cheaply and kept as encoded JSON for relaying.

The aggregated list only relays what the other nodes say. Decoding each of a
node's 336 slots into attrs values and encoding them again cost ~3 ms a node a
call, so a slot is checked here as plain JSON data against the contract's slot
shape, with the codec's rules (an int is an int within ±(2**53 - 1), a string a
string, any enum value this version does not know reads as `unknown`, a missing
status `unknown`, a missing counter 0, unknown keys dropped), and kept as its
*tail*: the canonical encoding of everything but its start
(`"summary":"up",…,"changes":0}`). A slot's text is `slot_prefix(start) + tail`,
byte for byte what `to_json_value` and compact `json.dumps` give for the same
slot (a property test holds the two together). Tails are interned: most slots
of a fleet are alike, so a cached window costs a few pointers per slot.

The rest of an answer (node id and name, summary, three components) is small and
goes through the core's converter as before; its encoding is kept as `head_text`.

`slots_digest` fingerprints a run of slots by their texts; a node and the
aggregator compare it to tell whether the history the aggregator holds is still
the node's (see `_slot_cache`).

Errors: `RemoteBadAnswer` (with an `invalid answer: …` reason), nothing else.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from xpagent.core import (
    COMPONENTS,
    MAX_JSON_INT,
    SLOT_SECS,
    CodecError,
    ComponentStatus,
    RuntimeItem,
    Slot,
    Summary,
    format_time,
    from_json_value,
    parse_time,
    to_json_value,
)
from xpagent.daemon import shorten_reason

from ._exceptions import RemoteBadAnswer

__all__ = [
    "EMPTY_TAIL",
    "MAX_REASON_DETAIL_CHARS",
    "RelayedAnswer",
    "check_answering_node",
    "head_text",
    "invalid_answer",
    "relayed_answer",
    "slot_prefix",
    "slot_tail",
    "slots_digest",
]

#: How much of a foreign value or parser message a reason quotes.
MAX_REASON_DETAIL_CHARS = 160


def invalid_answer(detail: str) -> RemoteBadAnswer:
    """`invalid answer: <detail, shortened>`: the reason of every answer that is not
    a runtime detail of the contract's shape."""
    return RemoteBadAnswer(f"invalid answer: {shorten_reason(detail, MAX_REASON_DETAIL_CHARS)}")


def check_answering_node(node_id: str, expected: str) -> None:
    """Raise RemoteBadAnswer when an answer comes from another node than the one
    asked: the cluster file points at another node's URL, and showing its data under
    this node's name would be a lie."""
    if node_id != expected:
        shown = shorten_reason(node_id, MAX_REASON_DETAIL_CHARS)
        raise RemoteBadAnswer(f"invalid answer: it comes from node {shown!r}, not {expected!r}")


_SUMMARIES = frozenset(summary.value for summary in Summary)
_STATUSES = frozenset(status.value for status in ComponentStatus)
_STATUS_KEYS = tuple(component.value for component in COMPONENTS)
_COUNTER_KEYS = ("observed_secs", "down_secs", "changes")
#: Keys of a detail that are not part of a list row's head.
_NOT_HEAD = frozenset({"recent_slots", "events", "slots_since", "error", "error_kind"})


def _tail(summary: str, statuses: Iterable[str], counters: Iterable[int]) -> str:
    # The order of the contract (and of the converter's output): summary, the
    # components' statuses, then the counters.
    parts = [f'"summary":"{summary}"']
    parts += [f'"{key}":"{status}"' for key, status in zip(_STATUS_KEYS, statuses, strict=True)]
    parts += [f'"{key}":{count}' for key, count in zip(_COUNTER_KEYS, counters, strict=True)]
    return sys.intern(",".join(parts) + "}")


def slot_tail(slot: Slot) -> str:
    """`slot`'s encoding after its start (the canonical tail of a core value)."""
    return _tail(
        slot.summary.value,
        (slot.status_of(component).value for component in COMPONENTS),
        (slot.observed_secs, slot.down_secs, slot.changes),
    )


#: The tail of a slot without data (`Slot(start)`): all unknown, all zero.
EMPTY_TAIL = _tail("unknown", ("unknown",) * len(_STATUS_KEYS), (0,) * len(_COUNTER_KEYS))

_prefixes: dict[int, str] = {}
_epochs: dict[str, int | None] = {}
_MEMO_ENTRIES = 4096


def slot_prefix(start: int) -> str:
    """`{"slot_start":"…",` for the slot starting at Unix second `start`."""
    prefix = _prefixes.get(start)
    if prefix is None:
        if len(_prefixes) >= _MEMO_ENTRIES:
            _prefixes.clear()
        moment = datetime.fromtimestamp(start, UTC)
        prefix = _prefixes[start] = f'{{"slot_start":"{format_time(moment)}",'
    return prefix


def _aligned_epoch(text: str) -> int | None:
    """The Unix second of a slot start, None when it is not on a :00/:30 boundary;
    raises ValueError when `text` is not an RFC 3339 time. Every node of a fleet
    sends the same few hundred starts, so they are remembered."""
    if text in _epochs:
        return _epochs[text]
    moment = parse_time(text)
    epoch = int(moment.timestamp() // 1)
    aligned = epoch if epoch % SLOT_SECS == 0 and moment.microsecond == 0 else None
    if len(_epochs) >= _MEMO_ENTRIES:
        _epochs.clear()
    _epochs[text] = aligned
    return aligned


def slots_digest(texts: Iterable[str]) -> str:
    """A fingerprint of slots given by their texts, oldest first (32 hex digits)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:32]


def _invalid(problem: str, path: str) -> RemoteBadAnswer:
    return invalid_answer(f"{problem} @ {path}")


def _type_name(value: object) -> str:
    return type(value).__name__


def _enum_value(value: object, known: frozenset[str]) -> str:
    # Leniently, as the converter reads enums: anything it does not know is `unknown`.
    return value if type(value) is str and value in known else "unknown"


def _counter(value: object, path: str) -> int:
    if type(value) is not int:
        raise _invalid(f"expected int, got {_type_name(value)}", path)
    if not -MAX_JSON_INT <= value <= MAX_JSON_INT:
        raise _invalid("integer out of range (beyond 2**53 - 1)", path)
    return value


def _checked_slot(value: object, path: str) -> tuple[int | None, str]:
    """A slot as plain JSON data: its start (None: not aligned, so never shown) and tail."""
    if type(value) is not dict:
        raise _invalid(f"expected an object, got {_type_name(value)}", path)
    start = value.get("slot_start")
    if start is None:
        raise _invalid("required field missing", f"{path}.slot_start")
    if type(start) is not str:
        raise _invalid(f"expected an RFC 3339 string, got {_type_name(start)}", path)
    try:
        epoch = _aligned_epoch(start)
    except ValueError:
        raise _invalid(f"not an RFC 3339 date-time: {start[:40]!r}", f"{path}.slot_start") from None
    summary = _enum_value(value.get("summary"), _SUMMARIES)
    statuses = [_enum_value(value.get(key), _STATUSES) for key in _STATUS_KEYS]
    counters = [_counter(value.get(key, 0), f"{path}.{key}") for key in _COUNTER_KEYS]
    return epoch, _tail(summary, statuses, counters)


def head_text(item: RuntimeItem) -> str:
    """The start of `item`'s row, up to its slots: `{"node_id":…,"components":[…]`."""
    head = {
        "node_id": item.node_id,
        "node_name": item.node_name,
        "summary": to_json_value(item.summary),
        "components": to_json_value(item.components),
    }
    return json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]


@attrs.frozen
class RelayedAnswer:
    """A node's checked answer: its head (as sent, and encoded), its slots as tails by
    start, and the start it answered from when it answered incrementally."""

    head: Mapping[str, Any]
    head_text: str
    tails: Mapping[int, str]
    slots_since: int | None = None


def relayed_answer(
    data: object, node_id: str, *, known_head: Mapping[str, Any] | None = None
) -> RelayedAnswer:
    """`data` (a node's detail as parsed JSON) checked as an answer of `node_id`.

    `known_head` is the head of this node's previous answer: when the new one is
    equal (the usual case) it is not decoded again and its text is reused by the
    caller. Raises RemoteBadAnswer."""
    if type(data) is not dict:
        raise _invalid(f"expected an object, got {_type_name(data)}", "$")
    head = {key: value for key, value in data.items() if key not in _NOT_HEAD}
    text = ""
    if known_head is None or head != known_head:
        try:
            item = from_json_value({**head, "recent_slots": []}, RuntimeItem)
        except CodecError as exc:
            raise invalid_answer(str(exc)) from None
        check_answering_node(item.node_id, node_id)
        text = head_text(item.with_every_component())
    for key in ("recent_slots", "events"):
        if key not in data:
            raise _invalid("required field missing", f"$.{key}")
        if type(data[key]) is not list:
            raise _invalid(f"expected a list, got {_type_name(data[key])}", f"$.{key}")
    tails: dict[int, str] = {}
    for index, value in enumerate(data["recent_slots"]):
        epoch, tail = _checked_slot(value, f"$.recent_slots[{index}]")
        if epoch is not None:
            tails[epoch] = tail
    since = data.get("slots_since")
    slots_since = None
    if since is not None:
        if type(since) is not str:
            raise _invalid(f"expected an RFC 3339 string, got {_type_name(since)}", "$.slots_since")
        try:
            slots_since = _aligned_epoch(since)
        except ValueError:
            raise _invalid("not an RFC 3339 date-time", "$.slots_since") from None
    return RelayedAnswer(head=head, head_text=text, tails=tails, slots_since=slots_since)
