"""Broadcast to any number of subscribers, each with its own bounded buffer.

`Hub.publish` never waits: an item goes into every subscriber's buffer at once.
A subscriber whose buffer is full is marked lagged instead: its buffer is
dropped, and every item published until it reads again is only counted. Its next
`receive` returns `Lagged(missed)`, after which it gets new items again — the
reader is expected to resynchronise from a fresh snapshot at that point.
Leaving the `subscribe()` block unsubscribes at once, whether or not items flow.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import attrs
import trio

__all__ = ["DEFAULT_CAPACITY", "Hub", "Lagged", "Subscription"]

T = TypeVar("T")
DEFAULT_CAPACITY = 256


@attrs.frozen
class Lagged:
    """The subscriber fell behind and `missed` items were dropped for it."""

    missed: int


class Subscription(Generic[T]):
    """One subscriber's view of the hub; obtained from `Hub.subscribe`."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._buffer: deque[T] = deque()
        self._missed = 0
        self._lot = trio.lowlevel.ParkingLot()

    def _offer(self, item: T) -> None:
        if self._missed:
            self._missed += 1
        elif len(self._buffer) >= self._capacity:
            self._missed = len(self._buffer) + 1
            self._buffer.clear()
        else:
            self._buffer.append(item)
        self._lot.unpark_all()

    @property
    def pending(self) -> int:
        """Items buffered and not yet received."""
        return len(self._buffer)

    async def receive(self) -> T | Lagged:
        """The next item, or `Lagged` once after falling behind; waits while empty."""
        if self._buffer or self._missed:
            await trio.lowlevel.checkpoint()  # a checkpoint even when nothing waits
        while not self._buffer and not self._missed:
            await self._lot.park()
        if self._missed:
            missed, self._missed = self._missed, 0
            return Lagged(missed)
        return self._buffer.popleft()


class Hub(Generic[T]):
    """Fan-out of published items to the current subscribers."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("a subscriber's buffer must hold at least one item")
        self._capacity = capacity
        self._subscribers: set[Subscription[T]] = set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, item: T) -> None:
        """Hand `item` to every subscriber; never blocks, never fails for a slow one."""
        for subscriber in self._subscribers:
            subscriber._offer(item)

    @contextmanager
    def subscribe(self) -> Iterator[Subscription[T]]:
        """Subscribe for the duration of the `with` block."""
        subscription: Subscription[T] = Subscription(self._capacity)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)
