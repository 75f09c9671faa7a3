"""The state file `service_runtime.json` (schema v1): its model, codec and checks.

`decode_state` is the one place where the file's bytes are read into values. It
never raises anything but `StateFileError`, whatever the bytes (a 5000-digit
integer, NUL bytes, nesting ten thousand deep, a wrong type anywhere), and what
it accepts the core can use: restore, run and encode again. The shell decides
what to do with an unusable file (keep it aside, start empty).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import attrs

from ._codec import CodecError, from_json_value, parse_json, to_json_value
from ._errors import CoreError
from ._event_log import MAX_EVENTS, EventLog
from ._history import WINDOW_SLOTS, History
from ._machine import NodeRuntime, PreviousRun, Snapshot
from ._models import COMPONENTS, SLOT_SECS, Component, ComponentStatus, Event, Slot, slot_start_of

__all__ = [
    "SCHEMA_VERSION",
    "StateFile",
    "StateFileError",
    "decode_state",
    "encode_state",
    "restore",
]

SCHEMA_VERSION = 1
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Times the core can compute with (a restart wait, seven days of retention) on
#: either side without leaving `datetime`'s range, and ULIDs can carry.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)


class StateFileError(CoreError):
    """The state file cannot be used; the message says why, in a few words."""


@attrs.frozen(kw_only=True)
class StateFile:
    """The whole file: the last snapshot, the slots with data and the events."""

    schema_version: int = SCHEMA_VERSION
    node_id: str
    last_snapshot: Snapshot
    recent_slots: tuple[Slot, ...]
    events: tuple[Event, ...]


def encode_state(runtime: NodeRuntime, now: datetime) -> bytes:
    """The runtime as the bytes of a schema v1 state file, snapshot taken at `now`."""
    state = StateFile(
        node_id=runtime.node_id,
        last_snapshot=runtime.snapshot(now),
        recent_slots=runtime.history.pruned(now).slots,
        events=runtime.events,
    )
    # ASCII escapes keep the file valid whatever a probe or command said (lone
    # surrogates from undecodable output included).
    text = json.dumps(to_json_value(state), separators=(",", ":"))
    return text.encode("ascii")


def decode_state(data: bytes, *, node_id: str | None = None) -> StateFile:
    """Parse and check a state file; `node_id`, when given, must be the file's.

    Raises StateFileError, and only that, for anything that is not a usable
    schema v1 file.
    """
    try:
        state = _decoded(data)
    except StateFileError:
        raise
    except Exception as exc:  # the bytes are foreign: no failure may escape as a crash
        raise StateFileError(f"unusable ({exc.__class__.__name__})") from None
    if node_id is not None and state.node_id != node_id:
        raise StateFileError(f"it belongs to node {state.node_id!r}, this node is {node_id!r}")
    return state


def _decoded(data: bytes) -> StateFile:
    try:
        raw: Any = parse_json(data)
    except CodecError as exc:
        raise StateFileError(f"not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise StateFileError("not a JSON object")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION or type(version) is not int:
        shown = repr(version) if type(version) in (int, str, bool, type(None)) else "value"
        if len(shown) > 40:
            shown = shown[:39] + "…"
        raise StateFileError(f"schema_version {shown} is not supported (expected 1)")
    try:
        state = from_json_value(raw, StateFile)
    except CodecError as exc:
        raise StateFileError(f"malformed: {exc}") from None
    _check(state)
    return state


def _times(state: StateFile) -> Iterator[tuple[str, datetime | None]]:
    yield "last_snapshot.checked_at", state.last_snapshot.checked_at
    for c in state.last_snapshot.components:
        yield f"{c.component}.checked_at", c.checked_at
        yield f"{c.component}.down_since", c.down_since
        yield f"{c.component}.last_restart_at", c.last_restart_at
        yield f"{c.component}.last_restart_failed_at", c.last_restart_failed_at
    for index, slot in enumerate(state.recent_slots):
        yield f"recent_slots[{index}].slot_start", slot.slot_start
    for index, event in enumerate(state.events):
        yield f"events[{index}].occurred_at", event.occurred_at


def _check(state: StateFile) -> None:
    """Semantic checks the JSON shape alone cannot make."""
    if not NODE_ID_PATTERN.fullmatch(state.node_id):
        raise StateFileError(f"node_id {state.node_id!r} is not a valid node id")
    names = tuple(c.component for c in state.last_snapshot.components)
    if names != COMPONENTS:
        raise StateFileError(f"last_snapshot.components must be {', '.join(COMPONENTS)}")
    for c in state.last_snapshot.components:
        if c.consecutive_failures < 0 or c.restart_attempts < 0:
            raise StateFileError(f"{c.component}: negative counter")
    slots = state.recent_slots
    if len(slots) > WINDOW_SLOTS:
        raise StateFileError(f"{len(slots)} slots, at most {WINDOW_SLOTS} allowed")
    for index, slot in enumerate(slots):
        where = f"recent_slots[{index}]"
        if slot_start_of(slot.slot_start) != slot.slot_start:
            raise StateFileError(f"{where}: slot_start is not aligned to :00/:30")
        if index and slot.slot_start <= slots[index - 1].slot_start:
            raise StateFileError(f"{where}: slots are not in increasing order")
        if not 0 <= slot.down_secs <= slot.observed_secs <= SLOT_SECS or slot.changes < 0:
            raise StateFileError(f"{where}: counters out of range")
    if len(state.events) > MAX_EVENTS:
        raise StateFileError(f"{len(state.events)} events, at most {MAX_EVENTS} allowed")
    if any(not event.event_id for event in state.events):
        raise StateFileError("an event has an empty event_id")
    for where, moment in _times(state):
        if moment is not None and not EARLIEST_TIME <= moment < LATEST_TIME:
            raise StateFileError(f"{where}: time out of range (1970 to 9000)")


def restore(state: StateFile) -> tuple[NodeRuntime, PreviousRun]:
    """The runtime a state file describes, and what it says of the run that wrote it.

    The previous run ended cleanly when it recorded `xp` going down; its last
    sign of life is the snapshot's `checked_at`.
    """
    runtime = NodeRuntime(
        node_id=state.node_id,
        components=state.last_snapshot.components,
        history=History(state.recent_slots),
        event_log=EventLog(state.events),
    )
    xp = runtime.component(Component.XP)
    previous = PreviousRun(
        ended_cleanly=xp.status is ComponentStatus.DOWN,
        last_seen=state.last_snapshot.checked_at,
    )
    return runtime, previous
