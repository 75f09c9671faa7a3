"""The event log: newest first, seven days and at most 2000 events.

"Newest first" is the order the events were recorded in, reversed. Their times
follow that order unless the wall clock was set back; retention looks at every
event's own time, so such a log is pruned right too. A clock behind the events
never drops one: retention only removes events older than seven days before
`now`, and a clock set back makes that horizon earlier, not later.
"""

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
    #: The earliest `occurred_at` in the log: the common update only compares this.
    _earliest: datetime | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        earliest = min((event.occurred_at for event in self.events), default=None)
        object.__setattr__(self, "_earliest", earliest)

    def recorded(self, new: Sequence[Event], now: datetime) -> EventLog:
        """The log with `new` (given oldest first) added and old events dropped."""
        if not new:
            # The common case, on every probe tick: nothing to drop unless the
            # earliest event is older than the retention.
            if self._earliest is None or self._earliest >= now - EVENT_RETENTION:
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

    @property
    def latest_time(self) -> datetime | None:
        """The latest `occurred_at` in the log (not always the newest event's)."""
        return max((event.occurred_at for event in self.events), default=None)
