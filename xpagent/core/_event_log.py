"""The event log: newest first, seven days and at most 2000 events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from ._models import Event

__all__ = ["EVENT_RETENTION", "MAX_EVENTS", "EventLog"]

MAX_EVENTS = 2000
EVENT_RETENTION = timedelta(days=7)


@attrs.frozen
class EventLog:
    """Events newest first (the order they were recorded in, reversed)."""

    events: tuple[Event, ...] = ()

    def recorded(self, new: Sequence[Event], now: datetime) -> EventLog:
        """The log with `new` (given oldest first) added and old events dropped."""
        if not new:
            # The common case, on every probe tick: only look at the oldest event.
            oldest = self.events[-1] if self.events else None
            if oldest is None or oldest.occurred_at >= now - EVENT_RETENTION:
                return self
            return self.pruned(now)
        return EventLog((*reversed(new), *self.events)).pruned(now)

    def pruned(self, now: datetime) -> EventLog:
        """Without events older than seven days before `now`, and at most 2000."""
        horizon = now - EVENT_RETENTION
        kept = tuple(event for event in self.events[:MAX_EVENTS] if event.occurred_at >= horizon)
        return self if len(kept) == len(self.events) else EventLog(kept)

    def latest(self, limit: int) -> tuple[Event, ...]:
        """The newest `limit` events, newest first."""
        return self.events[: max(limit, 0)]
