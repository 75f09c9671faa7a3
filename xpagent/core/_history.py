"""Seven days of half-hour slots: the worst state seen in each, and for how long.

The history stores only slots that have data, oldest first, unique by start, at
most 336: those within the window of 336 slots that ends with the slot in
progress — or with the newest stored slot, when the clock is behind it.
`recent_slots` fills the rest of the window at `now` with `unknown`. Time is
accounted in whole seconds as the difference of floored timestamps, so
consecutive intervals add up exactly.

Clocks: the caller says which wall-clock interval a measured stretch of time
covers (see `NodeRuntime`); an interval longer than `MAX_OBSERVATION_GAP` is not
counted as observed (the agent was not really measuring) and an interval that
runs backwards counts nothing. A slot never holds more than 1800 s: time placed
into a full slot (the wall clock was set back over it) only adds to its
`down_secs`, up to 1800. Pruning never drops a slot because the clock is behind
it: a clock earlier than the history's own newest slot is wrong, and the data is
kept until the clock is right again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from ._models import (
    SLOT_LENGTH,
    SLOT_SECS,
    ByComponent,
    ComponentStatus,
    Slot,
    Summary,
    every_status,
    slot_start_of,
)
from ._summary import worse_status, worse_summary

__all__ = [
    "MAX_OBSERVATION_GAP",
    "WINDOW_SLOTS",
    "History",
    "Observation",
    "window_start_of",
]

WINDOW_SLOTS = 336
MAX_OBSERVATION_GAP = timedelta(minutes=5)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def _whole_secs(moment: datetime) -> int:
    return (moment - _EPOCH) // _SECOND


def window_start_of(now: datetime) -> datetime:
    """The start of the oldest of the 336 slots that end with the slot containing `now`."""
    return slot_start_of(now) - (WINDOW_SLOTS - 1) * SLOT_LENGTH


@attrs.frozen
class Observation:
    """The node's statuses at one moment, as far as the history cares."""

    summary: Summary
    statuses: ByComponent[ComponentStatus] = attrs.field(converter=every_status)

    @property
    def is_down(self) -> bool:
        """Whether this moment counts towards `down_secs`."""
        return self.summary in (Summary.DOWN, Summary.DEGRADED)


def _merge(slot: Slot, seen: Observation, *, secs: int = 0, changes: int = 0) -> Slot:
    # A slot holds at most its own length; down time is kept up to that, as the
    # more telling of the two when a clock set back makes them compete.
    observed = min(slot.observed_secs + secs, SLOT_SECS)
    down = min(slot.down_secs + (secs if seen.is_down else 0), observed)
    statuses = ByComponent(
        (component, worse_status(status, seen.statuses[component]))
        for component, status in slot.statuses.items()
    )
    return attrs.evolve(
        slot,
        summary=worse_summary(slot.summary, seen.summary),
        statuses=statuses,
        observed_secs=observed,
        down_secs=down,
        changes=slot.changes + changes,
    )


@attrs.frozen
class History:
    """The stored slots, oldest first, unique by `slot_start`."""

    slots: tuple[Slot, ...] = ()

    def _with(self, start: datetime, seen: Observation, *, secs: int, changes: int) -> History:
        slots = self.slots
        # Almost every update touches the newest slot: keep that path cheap.
        if slots and slots[-1].slot_start == start:
            merged = _merge(slots[-1], seen, secs=secs, changes=changes)
            return History((*slots[:-1], merged))
        if not slots or slots[-1].slot_start < start:
            return History((*slots, _merge(Slot(start), seen, secs=secs, changes=changes)))
        by_start = {slot.slot_start: slot for slot in slots}
        by_start[start] = _merge(by_start.get(start, Slot(start)), seen, secs=secs, changes=changes)
        return History(tuple(by_start[key] for key in sorted(by_start)))

    def account(self, since: datetime, until: datetime, seen: Observation) -> History:
        """Count the interval from `since` to `until`, during which `seen` held.

        Each slot the interval covers gets its share of `observed_secs` (and of
        `down_secs` when the summary was down or degraded) and keeps the worse of
        its states and `seen`. Backward or over-long intervals count nothing.
        """
        if until <= since or until - since > MAX_OBSERVATION_GAP:
            return self
        history = self
        start = slot_start_of(since)
        while start < until:
            end = start + SLOT_LENGTH
            secs = _whole_secs(min(end, until)) - _whole_secs(max(start, since))
            if secs > 0:
                history = history._with(start, seen, secs=secs, changes=0)
            start = end
        return history

    def mark(self, at: datetime, seen: Observation, *, changes: int = 0) -> History:
        """Note that `seen` held at the moment `at`, with `changes` status changes then."""
        return self._with(slot_start_of(at), seen, secs=0, changes=changes)

    def pruned(self, now: datetime) -> History:
        """Without the slots older than the window that ends with the slot containing
        `now`, or with the newest stored slot if that is later.

        A clock behind the history's own data is wrong: slots "ahead" of it are
        kept, never dropped because of it, and show again once the clock is right.
        Since every slot is at most the newest, at most 336 remain.
        """
        if not self.slots:
            return self
        first = window_start_of(max(now, self.slots[-1].slot_start))
        if self.slots[0].slot_start >= first:
            return self
        return History(tuple(s for s in self.slots if s.slot_start >= first))

    def recent_slots(self, now: datetime) -> tuple[Slot, ...]:
        """Exactly 336 slots, oldest first, the last one being the slot in progress."""
        by_start = {slot.slot_start: slot for slot in self.slots}
        first = window_start_of(now)
        starts = (first + index * SLOT_LENGTH for index in range(WINDOW_SLOTS))
        return tuple(by_start.get(start) or Slot(start) for start in starts)
