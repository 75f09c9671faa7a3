"""Relayed answers: the cheap check of another node's slots agrees with the core's
converter, and the spliced text is byte for byte what the encoder writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import slots
from xpagent.api import RemoteBadAnswer
from xpagent.api._relayed import EMPTY_TAIL, head_text, relayed_answer, slot_prefix, slot_tail
from xpagent.api._slot_cache import epoch_of
from xpagent.core import (
    CodecError,
    Component,
    NodeRuntime,
    Slot,
    from_json_value,
    runtime_detail,
    to_json_value,
)
from xpagent.core._time import parse_time


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@given(slots())
def test_a_slot_text_is_what_the_encoder_writes(slot: Slot) -> None:
    """`slot_prefix + slot_tail` equals compact `json.dumps(to_json_value(slot))`."""
    assert slot_prefix(epoch_of(slot.slot_start)) + slot_tail(slot) == dumps(to_json_value(slot))


def test_the_empty_tail_is_a_slot_without_data() -> None:
    """A start with no slot is shown as `Slot(start)` is encoded."""
    slot = Slot(parse_time("2026-11-28T10:30:00Z"))
    assert slot_prefix(epoch_of(slot.slot_start)) + EMPTY_TAIL == dumps(to_json_value(slot))


def detail_data() -> dict[str, Any]:
    now = parse_time("2026-11-28T10:40:00Z")
    runtime = NodeRuntime.new("node-b", enabled={Component.XRAY})
    runtime = runtime.started(now, enabled={Component.XRAY}, previous=None).runtime
    data: dict[str, Any] = to_json_value(runtime_detail(runtime, "B", now, events_limit=0))
    return data


def test_a_checked_answer_keeps_the_encoded_head_and_slots() -> None:
    """The head text and the slots' tails are those of the decoded detail."""
    data = detail_data()
    answer = relayed_answer(data, "node-b")
    detail = from_json_value(data, type_of_detail())
    assert answer.head_text == head_text(detail.as_item())
    assert [answer.tails[epoch_of(slot.slot_start)] for slot in detail.recent_slots] == [
        slot_tail(slot) for slot in detail.recent_slots
    ]


def type_of_detail() -> Any:
    from xpagent.core import RuntimeDetail

    return RuntimeDetail


#: Values a slot's fields may hold on the wire, good and bad.
wire_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=False),
    st.sampled_from(["up", "down", "degraded", "unknown", "disabled", "sideways", ""]),
    st.sampled_from(["2026-11-28T10:30:00Z", "2026-11-28T10:31:00Z", "yesterday"]),
    st.lists(st.integers(), max_size=2),
)
slot_keys = st.sampled_from(
    ["slot_start", "summary", "xp", "xray", "cloudflared", "observed_secs", "down_secs", "changes"]
)


@given(slots(), st.dictionaries(slot_keys, wire_values, max_size=3), st.sets(slot_keys))
def test_the_cheap_check_refuses_what_the_converter_refuses(
    slot: Slot, changed: dict[str, Any], dropped: set[str]
) -> None:
    """A slot with fields changed or dropped is refused by the cheap check exactly when
    the core's converter refuses it, and otherwise gives the converter's encoding."""
    value = {**to_json_value(slot), **changed}
    for key in dropped:
        value.pop(key, None)
    data = {**detail_data(), "recent_slots": [value]}
    try:
        decoded = from_json_value(value, Slot)
    except CodecError:
        with pytest.raises(RemoteBadAnswer):
            relayed_answer(data, "node-b")
        return
    answer = relayed_answer(data, "node-b")
    start = epoch_of(decoded.slot_start)
    aligned = start % 1800 == 0 and decoded.slot_start.microsecond == 0
    assert answer.tails == ({start: slot_tail(decoded)} if aligned else {})
