"""The JSON shapes of the core's models and of the state file."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import (
    component_states,
    events,
    slots,
    snapshots,
    state_files,
)
from xpagent.core import (
    SUPERVISED,
    Component,
    ComponentState,
    ComponentStatus,
    Event,
    EventKind,
    NodeRuntime,
    Recovery,
    Slot,
    Snapshot,
    StateFile,
    StateFileError,
    Summary,
    decode_state,
    encode_state,
    format_time,
    from_json_value,
    parse_time,
    to_json_value,
)
from xpagent.daemon import STATE_FILE_NAME, load_state, write_state

NOW = datetime(2026, 11, 28, 10, 30, tzinfo=UTC)


def through_json(value: object) -> object:
    return json.loads(json.dumps(to_json_value(value)))


@given(component_states(Component.XRAY))
def test_component_state_round_trips(state: ComponentState) -> None:
    """A component state survives JSON unchanged."""
    assert from_json_value(through_json(state), ComponentState) == state


@given(slots())
def test_slot_round_trips(slot: Slot) -> None:
    """A slot survives JSON unchanged."""
    assert from_json_value(through_json(slot), Slot) == slot


@given(events)
def test_event_round_trips(event: Event) -> None:
    """An event survives JSON unchanged."""
    assert from_json_value(through_json(event), Event) == event


@given(snapshots)
def test_snapshot_round_trips(snapshot: Snapshot) -> None:
    """A snapshot survives JSON unchanged."""
    assert from_json_value(through_json(snapshot), Snapshot) == snapshot


@given(state_files)
def test_state_file_round_trips(state: StateFile) -> None:
    """A whole state file survives its own encoding unchanged."""
    data = json.dumps(to_json_value(state)).encode()
    assert decode_state(data) == state


def test_component_state_has_the_contract_fields() -> None:
    """A component state carries exactly the contract's fields, plus our two additions
    (and `recovering`, only while it recovers)."""
    value = to_json_value(ComponentState(Component.XRAY, checked_at=NOW))
    assert value == {
        "component": "xray",
        "status": "unknown",
        "checked_at": "2026-11-28T10:30:00Z",
        "down_since": None,
        "consecutive_failures": 0,
        "restart_attempts": 0,
        "last_restart_at": None,
        "last_restart_failed_at": None,
        "last_error": None,
        "restart_in_flight": False,
    }


def test_a_recovering_component_says_how_far_it_is() -> None:
    """`recovering` is on the wire only while a component recovers, with both counts."""
    state = ComponentState(
        Component.XRAY,
        status=ComponentStatus.DOWN,
        down_since=NOW,
        recovering=Recovery(successes=2, needed=3),
    )
    value = to_json_value(state)
    assert value["recovering"] == {"successes": 2, "needed": 3}
    assert from_json_value(value, ComponentState) == state


def test_a_component_state_written_before_recovering_existed_still_reads() -> None:
    """A component object without `recovering` (an older file or node) is not recovering."""
    value = to_json_value(ComponentState(Component.XRAY, status=ComponentStatus.DOWN))
    assert "recovering" not in value
    assert from_json_value(value, ComponentState).recovering is None
    assert from_json_value({**value, "recovering": None}, ComponentState).recovering is None


def test_slot_has_the_contract_fields() -> None:
    """A slot carries exactly the contract's fields."""
    assert to_json_value(Slot(NOW)) == {
        "slot_start": "2026-11-28T10:30:00Z",
        "summary": "unknown",
        "xp": "unknown",
        "xray": "unknown",
        "cloudflared": "unknown",
        "observed_secs": 0,
        "down_secs": 0,
        "changes": 0,
    }


def test_a_slot_keys_its_statuses_by_component_and_flattens_them_in_order() -> None:
    """Statuses are held per component and travel as the contract's flat keys, in
    its order; a key missing or unknown on input reads as `unknown`."""
    slot = Slot(NOW, Summary.DEGRADED, {Component.XRAY: ComponentStatus.DOWN}, observed_secs=60)
    assert slot.status_of(Component.XRAY) is ComponentStatus.DOWN
    assert slot.status_of(Component.CLOUDFLARED) is ComponentStatus.UNKNOWN
    assert list(to_json_value(slot)) == [
        "slot_start",
        "summary",
        "xp",
        "xray",
        "cloudflared",
        "observed_secs",
        "down_secs",
        "changes",
    ]
    read = from_json_value(
        {"slot_start": "2026-11-28T10:30:00Z", "xray": "down", "cloudflared": "sleepy"}, Slot
    )
    assert dict(read.statuses) == {
        Component.XP: ComponentStatus.UNKNOWN,
        Component.XRAY: ComponentStatus.DOWN,
        Component.CLOUDFLARED: ComponentStatus.UNKNOWN,
    }


def test_unknown_enum_values_from_a_newer_node_read_as_unknown() -> None:
    """Values this version does not know become `unknown` instead of an error."""
    event = from_json_value(
        {
            "event_id": "01JDXYZ",
            "occurred_at": "2026-11-28T10:30:00.250Z",
            "component": "warp",
            "kind": "config_reloaded",
            "level": "notice",
            "message": "hello",
            "status_from": "sleeping",
            "status_to": None,
            "a_field_from_the_future": 1,
        },
        Event,
    )
    assert event.component is Component.UNKNOWN
    assert event.kind is EventKind.UNKNOWN
    assert event.level.value == "unknown"
    assert event.status_from is ComponentStatus.UNKNOWN
    assert from_json_value("partly", Summary) is Summary.UNKNOWN


def test_times_are_rfc3339_utc_with_z() -> None:
    """Times are written with `Z`, and with milliseconds only when they have some."""
    assert format_time(NOW) == "2026-11-28T10:30:00Z"
    assert format_time(NOW.replace(microsecond=250_999)) == "2026-11-28T10:30:00.250Z"
    assert parse_time("2026-11-28T12:30:00+02:00") == NOW
    for bad in ("2026-11-28", "2026-11-28T10:30:00", "yesterday"):
        with pytest.raises(ValueError, match=r"RFC 3339|without a UTC offset"):
            parse_time(bad)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(schema_version=2), "schema_version 2 is not supported"),
        (lambda d: d.pop("events"), "events"),
        (lambda d: d.update(node_id="a b"), "not a valid node id"),
        (lambda d: d["recent_slots"][0].update(observed_secs=1801), "counters out of range"),
        (lambda d: d["recent_slots"][0].update(down_secs=-1), "counters out of range"),
        (lambda d: d["recent_slots"][0].update(slot_start="2026-11-28T10:31:00Z"), "aligned"),
        (lambda d: d["recent_slots"].append(dict(d["recent_slots"][0])), "increasing"),
        (lambda d: d["last_snapshot"]["components"].pop(), "xp, xray, cloudflared"),
        (lambda d: d["recent_slots"][0].update(changes="3"), "expected int"),
        (lambda d: d["events"][0].update(occurred_at="soon"), "occurred_at"),
    ],
)
def test_invalid_state_files_are_refused_with_a_reason(mutate, reason) -> None:
    """Each kind of invalid content is refused with a reason that names it."""
    runtime = NodeRuntime.new("node-a", enabled=SUPERVISED)
    runtime = runtime.started(NOW, enabled=SUPERVISED, previous=None).runtime
    document = json.loads(encode_state(runtime, NOW))
    mutate(document)
    with pytest.raises(StateFileError, match=reason):
        decode_state(json.dumps(document).encode())


def test_another_nodes_state_file_is_refused() -> None:
    """A file written by another node is not taken over."""
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    with pytest.raises(StateFileError, match="belongs to node 'node-a'"):
        decode_state(encode_state(runtime, NOW), node_id="node-b")


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_never_escape_the_decoder(data: bytes) -> None:
    """Whatever the bytes, decoding either works or raises StateFileError."""
    with contextlib.suppress(StateFileError):
        decode_state(data)


def test_deeply_nested_json_is_refused_not_crashed() -> None:
    """Pathological nesting is refused like any other bad file."""
    with pytest.raises(StateFileError):
        decode_state(b"[" * 100_000 + b"]" * 100_000)


def test_lone_surrogates_in_messages_still_encode() -> None:
    """A probe reason with undecodable bytes cannot make the state unwritable."""
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    runtime = runtime.started(NOW, enabled={Component.XRAY}, previous=None).runtime
    from xpagent.core import ProbeResult

    runtime = runtime.probed(
        Component.XRAY, ProbeResult.failure("bad \udcff byte"), NOW, fails_before_down=1
    ).runtime
    assert decode_state(encode_state(runtime, NOW)).events[0].message.endswith("byte)")


def test_a_corrupt_file_is_kept_aside_and_reported(tmp_path: Path) -> None:
    """An unusable file is renamed with a UTC timestamp, never deleted."""
    path = tmp_path / STATE_FILE_NAME
    path.write_bytes(b'{"schema_version": 1, "node_id": ')
    loaded = load_state(path, node_id="node-a", now=NOW)
    assert loaded.runtime is None
    assert loaded.reset_reason is not None
    assert loaded.reset_reason.startswith("not JSON")
    assert loaded.kept_aside == tmp_path / "service_runtime.json.corrupt-20261128T103000Z"
    assert loaded.kept_aside.read_bytes() == b'{"schema_version": 1, "node_id": '
    assert not path.exists()

    path.write_bytes(b"again")
    second = load_state(path, node_id="node-a", now=NOW)
    assert second.kept_aside == tmp_path / "service_runtime.json.corrupt-20261128T103000Z-1"


def test_a_missing_file_is_a_first_start(tmp_path: Path) -> None:
    """No file means a first start, with nothing to report."""
    loaded = load_state(tmp_path / STATE_FILE_NAME, node_id="node-a", now=NOW)
    assert (loaded.runtime, loaded.reset_reason, loaded.kept_aside) == (None, None, None)


def test_a_written_file_loads_back_with_its_history(tmp_path: Path) -> None:
    """What is written is what the next start restores, and no temp file is left."""
    path = tmp_path / STATE_FILE_NAME
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    runtime = runtime.started(NOW, enabled={Component.XRAY}, previous=None).runtime
    (tmp_path / f".{STATE_FILE_NAME}.999.tmp").write_bytes(b"half a write")
    write_state(path, encode_state(runtime, NOW))
    loaded = load_state(path, node_id="node-a", now=NOW)
    assert loaded.runtime is not None
    assert loaded.runtime.events == runtime.events
    assert loaded.runtime.history == runtime.history
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE_NAME]
    assert path.stat().st_mode & 0o777 == 0o600
