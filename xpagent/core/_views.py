"""The API's bodies for a node's runtime (CONTRACT §3), built from core values.

`RuntimeItem` is one row of the aggregated list; `RuntimeDetail` is the detail
and SSE `snapshot` body; `RuntimeList` is the list answer. Data read from another
node is normalised on the way in (`normalised`), so an answer from an older or
newer version still yields exactly 336 aligned slots and every component.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from ._history import History, window_start_of
from ._machine import NodeRuntime
from ._models import COMPONENTS, ComponentState, Event, Slot, Summary

__all__ = [
    "RuntimeDetail",
    "RuntimeItem",
    "RuntimeList",
    "aligned_slots",
    "runtime_detail",
    "runtime_item",
]


@attrs.frozen
class RuntimeItem:
    """One node in `GET /api/admin/nodes/runtime`; `error` (readable) and `error_kind`
    (an addition to the contract: `timeout`, `connection`, `tls`, `http_status`,
    `bad_answer`, `config` or `unknown`) only for an unreachable node."""

    node_id: str
    node_name: str
    summary: Summary
    components: tuple[ComponentState, ...]
    recent_slots: tuple[Slot, ...]
    error: str | None = None
    error_kind: str | None = None

    def normalised(self, now: datetime) -> RuntimeItem:
        """This item as another node sent it, made to hold what the contract promises:
        every component of `COMPONENTS` in order (missing ones `unknown`, unknown
        ones dropped) and the 336 slots of the window at `now`."""
        return attrs.evolve(
            self.with_every_component(), recent_slots=aligned_slots(self.recent_slots, now)
        )

    def with_every_component(self) -> RuntimeItem:
        """This item with every component of `COMPONENTS` in order (missing ones
        `unknown`, unknown ones dropped), its slots as they are."""
        return attrs.evolve(self, components=_every_component(self.components))


@attrs.frozen
class RuntimeDetail:
    """`GET /api/admin/nodes/{id}/runtime`, and the SSE `snapshot` frame."""

    node_id: str
    node_name: str
    summary: Summary
    components: tuple[ComponentState, ...]
    recent_slots: tuple[Slot, ...]
    events: tuple[Event, ...]

    def as_item(self) -> RuntimeItem:
        return RuntimeItem(
            node_id=self.node_id,
            node_name=self.node_name,
            summary=self.summary,
            components=self.components,
            recent_slots=self.recent_slots,
        )

    def normalised(self, now: datetime) -> RuntimeDetail:
        item = self.as_item().normalised(now)
        return attrs.evolve(self, components=item.components, recent_slots=item.recent_slots)


@attrs.frozen
class RuntimeList:
    """`GET /api/admin/nodes/runtime`."""

    partial: bool
    unreachable_nodes: tuple[str, ...]
    items: tuple[RuntimeItem, ...]

    @classmethod
    def of(cls, items: Sequence[RuntimeItem]) -> RuntimeList:
        unreachable = tuple(sorted(item.node_id for item in items if item.error is not None))
        return cls(partial=bool(unreachable), unreachable_nodes=unreachable, items=tuple(items))


def _every_component(components: Iterable[ComponentState]) -> tuple[ComponentState, ...]:
    by_name = {state.component: state for state in components}
    return tuple(by_name.get(name) or ComponentState(name) for name in COMPONENTS)


def aligned_slots(slots: Iterable[Slot], now: datetime) -> tuple[Slot, ...]:
    """The 336 slots of the window at `now` from whatever `slots` hold (unknown elsewhere)."""
    first = window_start_of(now)
    unique = {slot.slot_start: slot for slot in slots if slot.slot_start >= first}
    return History(tuple(unique[start] for start in sorted(unique))).recent_slots(now)


def runtime_item(runtime: NodeRuntime, node_name: str, now: datetime) -> RuntimeItem:
    """This node's row of the list at `now`."""
    return RuntimeItem(
        node_id=runtime.node_id,
        node_name=node_name,
        summary=runtime.summary,
        components=runtime.component_states,
        recent_slots=runtime.recent_slots(now),
    )


def runtime_detail(
    runtime: NodeRuntime, node_name: str, now: datetime, *, events_limit: int
) -> RuntimeDetail:
    """This node's detail at `now`, with its newest `events_limit` events."""
    return RuntimeDetail(
        node_id=runtime.node_id,
        node_name=node_name,
        summary=runtime.summary,
        components=runtime.component_states,
        recent_slots=runtime.recent_slots(now),
        events=runtime.event_log.latest(events_limit),
    )
