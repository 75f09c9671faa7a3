"""When the state file is due to be written.

A write follows any new event within a second, and is coalesced under bursts to
at most one a second. Changes without events (probe ticks, time accounted to the
slots) are written at each slot boundary and at least every five minutes, so a
crash loses at most five minutes of observation and "last seen" is at most that
old — never on every probe tick.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from ._models import SLOT_LENGTH, slot_start_of

__all__ = ["MAX_QUIET_WRITE_GAP", "MIN_WRITE_GAP", "WriteSchedule"]

MIN_WRITE_GAP = timedelta(seconds=1)
MAX_QUIET_WRITE_GAP = timedelta(minutes=5)


@attrs.frozen
class WriteSchedule:
    """What has happened since the last write, enough to say when the next is due."""

    last_write_at: datetime | None = None
    #: When the first change not yet written happened; None when nothing is pending.
    dirty_since: datetime | None = None
    #: Whether the pending changes include a new event.
    event_pending: bool = False

    def changed(self, now: datetime, *, new_events: bool) -> WriteSchedule:
        """Note a change at `now` (with or without new events)."""
        return attrs.evolve(
            self,
            dirty_since=self.dirty_since or now,
            event_pending=self.event_pending or new_events,
        )

    def written(self, now: datetime) -> WriteSchedule:
        """Note a write that captured every pending change, completed at `now`."""
        return WriteSchedule(last_write_at=now)

    def due_at(self) -> datetime | None:
        """When the next write is due, or None when nothing is pending."""
        if self.dirty_since is None:
            return None
        last = self.last_write_at
        if last is None:
            return self.dirty_since
        if self.event_pending:
            return max(self.dirty_since, last + MIN_WRITE_GAP)
        next_slot = slot_start_of(last) + SLOT_LENGTH
        return max(self.dirty_since, min(next_slot, last + MAX_QUIET_WRITE_GAP))

    def write_due(self, now: datetime) -> bool:
        """Whether to write at `now`. A clock set back before a time the schedule
        holds (the last write, the first pending change) cannot say how long ago
        that was: a pending write is then due at once, so a step back never stalls
        persistence."""
        due = self.due_at()
        if due is None:
            return False
        known = [t for t in (self.last_write_at, self.dirty_since) if t is not None]
        return now >= due or any(now < t for t in known)
