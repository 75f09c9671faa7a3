"""Where the daemon reads wall-clock time.

The core takes `now` as an argument; the daemon gets it from a `WallClock`, a
callable returning an aware UTC datetime. Production uses the system clock; tests
use `TrioWallClock`, which follows trio's clock, so `autojump_clock` moves the
wall clock too and timing logic runs in virtual time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import trio

__all__ = ["TrioWallClock", "WallClock", "system_clock"]

WallClock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class TrioWallClock:
    """A wall clock that reads `origin` when created and then moves with trio's clock."""

    def __init__(self, origin: datetime) -> None:
        self._origin = origin
        self._trio_origin = trio.current_time()

    def __call__(self) -> datetime:
        return self._origin + timedelta(seconds=trio.current_time() - self._trio_origin)
