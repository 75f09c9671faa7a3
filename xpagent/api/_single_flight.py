"""One run for many callers: calls with the same key made while a run is under way
wait for it and share its result (ten open browsers cost one fan-out, not ten).

The run happens in the task of the caller that started it (no background task).
If that caller is cancelled (its client went away) or the run raises, the
callers waiting on it try again: one of them runs it anew and the others wait on
that run. A waiter's own cancellation only stops its own wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import attrs
import trio

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@attrs.define
class _Flight(Generic[V]):
    done: trio.Event = attrs.Factory(trio.Event)
    result: tuple[V] | None = None


class SingleFlight(Generic[K, V]):
    """The runs under way, by key."""

    def __init__(self) -> None:
        self._flights: dict[K, _Flight[V]] = {}

    async def run(self, key: K, run: Callable[[], Awaitable[V]]) -> V:
        """`run()`'s result, shared with every call for `key` made while it runs."""
        while True:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = _Flight()
                try:
                    value = await run()
                    flight.result = (value,)
                    return value
                finally:
                    del self._flights[key]
                    flight.done.set()
            await flight.done.wait()
            if flight.result is not None:
                return flight.result[0]
