"""The recorder: the one mutable holder of the node's runtime, and its persistence.

Supervisors report probe and restart outcomes to the recorder; it applies the
core's transition, logs and publishes the new events to the hub, and notes the
change for the writer. Its `run` task writes the state file when the core's
`WriteSchedule` says a write is due — within a second of a new event, at least
once per slot, never more than once a second — in a worker thread.

All methods but `run` and `write_now` are synchronous: in trio nothing else
runs between reading the runtime and storing its successor, so no lock is needed.

Every transition gets both clocks: the wall clock (`clock`) places time into
slots and stamps events, trio's monotonic clock measures how long the agent was
measuring (see `xpagent.core.NodeRuntime`), so a stepped wall clock neither
hides nor doubles observed time; the core records such a step as an `xp`
warning, which is logged and published like any event.

For `/metrics` the recorder also keeps `RunningTotals`, what the runtime itself
does not: events counted by component and kind as they are applied, when each
component's status last changed, the last probe's duration, and (counted by the
state store) the failed writes of the state file — all since the agent started.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path

import attrs
import trio

from xpagent.core import (
    Component,
    ComponentState,
    Event,
    EventIds,
    EventKind,
    EventLevel,
    NodeRuntime,
    PreviousRun,
    ProbeResult,
    RestartResult,
    Update,
    WriteSchedule,
    encode_state,
    new_event_id,
)

from ._clock import WallClock
from ._hub import Hub
from ._logging import logger
from ._state_store import StateStoreError, WriteFailures, write_state

__all__ = ["WRITE_RETRY_SECS", "Recorder", "RunningTotals"]

WRITE_RETRY_SECS = 5.0


@attrs.define
class RunningTotals:
    """Running totals since the agent started (its first recorded change), for `/metrics`.

    `started_at` is the wall time of that first change; `events` counts the events
    applied by component and kind; `status_changed_at` is the monotonic reading at
    each component's latest status change (the start counts as one); `probe_secs`
    is how long each component's latest probe took; `write_failures` counts the
    state file's failed writes.
    """

    started_at: datetime | None = None
    events: Counter[tuple[Component, EventKind]] = attrs.Factory(Counter)
    status_changed_at: dict[Component, float] = attrs.Factory(dict)
    probe_secs: dict[Component, float] = attrs.Factory(dict)
    write_failures: WriteFailures = attrs.Factory(WriteFailures)

    def count(self, update: Update, before: NodeRuntime, *, at: datetime, monotonic: float) -> None:
        """Count what `update`, applied to `before` at `at`, changed."""
        if self.started_at is None:
            self.started_at = at
        for event in update.events:
            self.events[event.component, event.kind] += 1
        for component, state in update.runtime.components.items():
            if (
                component not in self.status_changed_at
                or state.status is not before.components[component].status
            ):
                self.status_changed_at[component] = monotonic


class Recorder:
    """Holds the node's `NodeRuntime` and applies every change to it."""

    def __init__(
        self,
        runtime: NodeRuntime,
        *,
        path: Path,
        hub: Hub[Event],
        clock: WallClock,
        monotonic: Callable[[], float] = trio.current_time,
        event_ids: EventIds = new_event_id,
        write_in_thread: bool = True,
    ):
        """`monotonic` is the clock intervals are measured on (trio's, by default);
        `event_ids` the source of event ids (ULIDs, by default).
        `write_in_thread=False` writes on the trio thread: for virtual-time tests,
        where a worker thread would let the clock jump while the disk works."""
        self._runtime = runtime
        self._ids = event_ids
        self._path = path
        self._hub = hub
        self._clock = clock
        self._monotonic = monotonic
        self._write_in_thread = write_in_thread
        # Writes abandoned at shutdown may still be running: one at a time, and one
        # that started earlier never replaces what a later one wrote.
        self._write_lock = threading.Lock()
        self._write_seq = itertools.count(1)
        self._written_seq = 0
        self._schedule = WriteSchedule()
        self._changed = trio.Event()
        self.writes = 0
        self.totals = RunningTotals()

    @property
    def runtime(self) -> NodeRuntime:
        return self._runtime

    @property
    def hub(self) -> Hub[Event]:
        return self._hub

    def now(self) -> datetime:
        return self._clock()

    def monotonic(self) -> float:
        """The monotonic reading that goes with a `now()` taken just before."""
        return self._monotonic()

    # -- applying changes ----------------------------------------------------

    def apply(self, update: Update, *, at: datetime) -> NodeRuntime:
        """Store `update`'s runtime; log, publish and schedule the write of its events."""
        self.totals.count(update, self._runtime, at=at, monotonic=self._monotonic())
        self._runtime = update.runtime
        self._schedule = self._schedule.changed(at, new_events=bool(update.events))
        for event in update.events:
            level = logging.WARNING if event.level is EventLevel.WARNING else logging.INFO
            extra = {"component": event.component.value}
            if event.status_to is not None:
                extra["status"] = event.status_to.value
            logger.log(level, event.message, extra=extra)
            self._hub.publish(event)
        self._changed.set()
        self._changed = trio.Event()
        return self._runtime

    def record_start(
        self,
        *,
        enabled: Collection[Component],
        previous: PreviousRun | None,
        reset_reason: str | None = None,
    ) -> None:
        now, monotonic = self.now(), self.monotonic()
        update = self._runtime.started(
            now,
            enabled=enabled,
            previous=previous,
            reset_reason=reset_reason,
            monotonic=monotonic,
            ids=self._ids,
        )
        self.apply(update, at=now)

    def record_probe(
        self,
        component: Component,
        result: ProbeResult,
        *,
        fails_before_down: int,
        successes_before_up: int = 1,
    ) -> ComponentState:
        now, monotonic = self.now(), self.monotonic()
        update = self._runtime.probed(
            component,
            result,
            now,
            fails_before_down=fails_before_down,
            successes_before_up=successes_before_up,
            monotonic=monotonic,
            ids=self._ids,
        )
        return self.apply(update, at=now).component(component)

    def record_restart_requested(self, component: Component, *, how: str) -> ComponentState:
        now, monotonic = self.now(), self.monotonic()
        update = self._runtime.restart_requested(
            component, now, how=how, monotonic=monotonic, ids=self._ids
        )
        return self.apply(update, at=now).component(component)

    def record_restart_finished(self, component: Component, result: RestartResult) -> None:
        now, monotonic = self.now(), self.monotonic()
        update = self._runtime.restart_finished(
            component, result, now, monotonic=monotonic, ids=self._ids
        )
        self.apply(update, at=now)

    def record_probe_duration(self, component: Component, secs: float) -> None:
        """Note how long `component`'s latest probe took (monotonic seconds)."""
        self.totals.probe_secs[component] = secs

    def record_stop(self) -> None:
        now, monotonic = self.now(), self.monotonic()
        self.apply(self._runtime.stopped(now, monotonic=monotonic, ids=self._ids), at=now)

    # -- persistence ---------------------------------------------------------

    async def write_now(self) -> None:
        """Write the current runtime to the state file (in a worker thread).

        Raises StateStoreError when the disk refuses; the pending changes then
        stay pending.
        """
        now = self.now()
        runtime, schedule = self._runtime, self._schedule
        seq = next(self._write_seq)
        # Changes made while the thread writes stay pending for the next write.
        self._schedule = schedule.written(now)
        try:
            if self._write_in_thread:
                # A stalled disk must not hold up shutdown: a cancelled write is left
                # to finish in its thread (the file stays whole either way).
                await trio.to_thread.run_sync(
                    self._encode_and_write, runtime, now, seq, abandon_on_cancel=True
                )
            else:
                self._encode_and_write(runtime, now, seq)
                await trio.lowlevel.checkpoint()
        except StateStoreError:
            self._schedule = self._schedule.changed(now, new_events=schedule.event_pending)
            raise
        self.writes += 1

    def _encode_and_write(self, runtime: NodeRuntime, now: datetime, seq: int) -> None:
        """Write `runtime` as of `now`, unless a write started after this one (a higher
        `seq`) has already written: an abandoned write that finishes after the final
        one at shutdown must not bring back an older state."""
        with self._write_lock:
            if seq < self._written_seq:
                return
            write_state(self._path, encode_state(runtime, now), failures=self.totals.write_failures)
            self._written_seq = seq

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write the state file whenever a write is due, until cancelled."""
        task_status.started()
        while True:
            changed = self._changed
            due = self._schedule.due_at()
            if due is None:
                await changed.wait()
                continue
            now = self.now()
            if not self._schedule.write_due(now):
                # A new change may bring the due time forward: wait for either.
                with trio.move_on_after((due - now).total_seconds()):
                    await changed.wait()
                continue
            try:
                await self.write_now()
            except StateStoreError as exc:
                logger.error("%s; retrying in %gs", exc, WRITE_RETRY_SECS)
                await trio.sleep(WRITE_RETRY_SECS)
