"""The state file `service_runtime.json` (schema v1): its model, codec and checks.

Decoding never raises anything but `StateFileError`, whatever the bytes; the
shell decides what to do with an unusable file (keep it aside, start empty).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import attrs

from ._codec import CodecError, from_json_value, to_json_value
from ._event_log import MAX_EVENTS, EventLog
from ._history import WINDOW_SLOTS, History
from ._models import COMPONENTS, SLOT_SECS, ComponentStatus, Event, Slot, slot_start_of
from ._runtime import NodeRuntime, PreviousRun, Snapshot

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


class StateFileError(ValueError):
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

    Raises StateFileError for anything that is not a usable schema v1 file.
    """
    try:
        raw: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise StateFileError(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict):
        raise StateFileError("not a JSON object")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION or type(version) is not int:
        raise StateFileError(f"schema_version {version!r} is not supported (expected 1)")
    try:
        state = from_json_value(raw, StateFile)
    except (CodecError, RecursionError) as exc:
        raise StateFileError(f"malformed: {exc}") from None
    _check(state)
    if node_id is not None and state.node_id != node_id:
        raise StateFileError(f"it belongs to node {state.node_id!r}, this node is {node_id!r}")
    return state


def _check(state: StateFile) -> None:
    """Semantic checks the JSON shape alone cannot make."""
    if not NODE_ID_PATTERN.fullmatch(state.node_id):
        raise StateFileError(f"node_id {state.node_id!r} is not a valid node id")
    names = tuple(c.component for c in state.last_snapshot.components)
    if names != COMPONENTS:
        raise StateFileError("last_snapshot.components must be xp, xray, cloudflared")
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


def restore(state: StateFile) -> tuple[NodeRuntime, PreviousRun]:
    """The runtime a state file describes, and what it says of the run that wrote it.

    The previous run ended cleanly when it recorded `xp` going down; its last
    sign of life is the snapshot's `checked_at`.
    """
    components = state.last_snapshot.components
    runtime = NodeRuntime(
        node_id=state.node_id,
        components=components,
        history=History(state.recent_slots),
        event_log=EventLog(state.events),
    )
    xp = components[0]
    previous = PreviousRun(
        ended_cleanly=xp.status is ComponentStatus.DOWN,
        last_seen=state.last_snapshot.checked_at,
    )
    return runtime, previous
