"""A node's whole runtime state, and every transition the agent applies to it.

`NodeRuntime` ties the components' states, the slot history and the event log
together. Each transition takes `now`, accounts the time since the previous
update to the history with the state that held during it, applies the change and
returns an `Update`: the new runtime and the events it recorded (oldest first),
which the shell publishes and persists.

Two clocks. `now` is the wall clock, which places time into slots and stamps
events; it can be stepped (NTP, an RTC kept in local time, a host without an
RTC booting in 1970) or jump over a suspend. A transition may also get
`monotonic`, a reading of a clock that is never stepped (seconds, any origin):
then the length of the interval since the previous update is measured on it, and
the wall clock only says where that interval ends. When the two disagree by more
than `CLOCK_STEP_TOLERANCE`, the measured length is placed so that it ends at
`now` and an `xp` warning event (`clock_warning`) says how far the wall clock
stepped — so measured time is never lost, nor counted twice, whatever the wall
clock does. Without `monotonic` the wall clock is taken as measuring too.

At the start, a clock behind the latest time the restored history vouches for
(the state file's last write, its newest slot or event) is wrong: it is recorded
as an `xp` warning (`clock is 56 years behind the state file's last write`), and
nothing restored is pruned against it (see `History.pruned`, `EventLog`,
`restart_due`, `WriteSchedule.write_due`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from ._event_log import EventLog
from ._history import History, Observation
from ._models import (
    COMPONENTS,
    Component,
    ComponentState,
    ComponentStatus,
    Event,
    EventKind,
    EventLevel,
    ProbeResult,
    RestartResult,
    Slot,
    Summary,
    new_event_id,
)
from ._restart_policy import begin_restart, finish_restart
from ._summary import summarize
from ._time import format_time, spoken_duration
from ._tracker import observe, status_changed_event

__all__ = ["CLOCK_STEP_TOLERANCE", "NodeRuntime", "PreviousRun", "Snapshot", "Update"]

#: How far the wall clock may disagree with the monotonic clock (or a restored
#: time) before it counts as stepped: far above the jitter of reading two clocks
#: and of NTP's slewing over one update interval, far below any real step.
CLOCK_STEP_TOLERANCE = timedelta(seconds=2)


def clock_warning_event(now: datetime, message: str) -> Event:
    """An `xp` warning that the wall clock cannot be trusted as it is."""
    return Event(
        event_id=new_event_id(now),
        occurred_at=now,
        component=Component.XP,
        kind=EventKind.CLOCK_WARNING,
        level=EventLevel.WARNING,
        message=message,
    )


@attrs.frozen
class Snapshot:
    """The node's current state: what `last_snapshot` in the state file holds."""

    checked_at: datetime
    summary: Summary
    components: tuple[ComponentState, ...]


@attrs.frozen
class PreviousRun:
    """What the state file says of the agent's previous run, for the start event."""

    ended_cleanly: bool
    last_seen: datetime


@attrs.frozen
class Update:
    """The result of one transition: the new runtime and the events it recorded."""

    runtime: NodeRuntime
    events: tuple[Event, ...] = ()


def _fresh_components(*, cloudflared_enabled: bool) -> tuple[ComponentState, ...]:
    return (
        ComponentState(Component.XP),
        ComponentState(Component.XRAY),
        ComponentState(
            Component.CLOUDFLARED,
            status=ComponentStatus.UNKNOWN if cloudflared_enabled else ComponentStatus.DISABLED,
        ),
    )


def _reconciled(
    state: ComponentState, now: datetime, *, cloudflared_enabled: bool
) -> tuple[ComponentState, tuple[Event, ...]]:
    """A supervised component's state as a new run of the agent starts with it."""
    enabled = state.component is not Component.CLOUDFLARED or cloudflared_enabled
    was_disabled = state.status is ComponentStatus.DISABLED
    if not enabled:
        disabled = ComponentState(state.component, status=ComponentStatus.DISABLED)
        if was_disabled:
            return disabled, ()
        note = "not monitored on this node any more"
        return disabled, (status_changed_event(now, state, ComponentStatus.DISABLED, detail=note),)
    fresh = attrs.evolve(
        state,
        status=ComponentStatus.UNKNOWN,
        down_since=None,
        consecutive_failures=0,
        last_error=None,
        restart_in_flight=False,
    )
    if was_disabled:
        note = "monitored on this node from now on"
        return fresh, (status_changed_event(now, state, ComponentStatus.UNKNOWN, detail=note),)
    return fresh, ()


@attrs.frozen
class NodeRuntime:
    """One node's components (`xp`, `xray`, `cloudflared`), history and events.

    `observed_until` is the wall time of the previous update, up to which time
    has been accounted to the history, and `observed_monotonic` the monotonic
    reading taken with it (None when the caller gives none); both are None while
    the agent is not measuring (before `started`, after `stopped`).
    """

    node_id: str
    components: tuple[ComponentState, ...]
    history: History = attrs.field(factory=History)
    event_log: EventLog = attrs.field(factory=EventLog)
    observed_until: datetime | None = None
    observed_monotonic: float | None = None

    @classmethod
    def new(cls, node_id: str, *, cloudflared_enabled: bool) -> NodeRuntime:
        """A node seen for the first time: everything unknown, no history."""
        return cls(node_id, _fresh_components(cloudflared_enabled=cloudflared_enabled))

    # -- reading -----------------------------------------------------------

    def component(self, component: Component) -> ComponentState:
        return self.components[COMPONENTS.index(component)]

    @property
    def summary(self) -> Summary:
        return summarize(self.components)

    @property
    def events(self) -> tuple[Event, ...]:
        """All events, newest first."""
        return self.event_log.events

    def observation(self) -> Observation:
        return Observation(
            summary=self.summary,
            xp=self.component(Component.XP).status,
            xray=self.component(Component.XRAY).status,
            cloudflared=self.component(Component.CLOUDFLARED).status,
        )

    def snapshot(self, now: datetime) -> Snapshot:
        return Snapshot(checked_at=now, summary=self.summary, components=self.components)

    def recent_slots(self, now: datetime) -> tuple[Slot, ...]:
        """Exactly 336 slots ending with the one in progress at `now`, oldest first."""
        return self.history.recent_slots(now)

    # -- transitions -------------------------------------------------------

    def ticked(self, now: datetime, *, monotonic: float | None = None) -> NodeRuntime:
        """Account the time since the last update; no state changes (see `advanced`)."""
        return self.advanced(now, monotonic=monotonic).runtime

    def advanced(self, now: datetime, *, monotonic: float | None = None) -> Update:
        """Account the time since the last update; no state changes. Its only
        possible event is a `clock_warning` for a wall clock stepped meanwhile."""
        return self._applied(now, lambda runtime: (runtime, ()), monotonic=monotonic)

    def latest_recorded_time(self) -> datetime | None:
        """The latest time the history and the events vouch for (None if empty)."""
        newest_slot = self.history.slots[-1].slot_start if self.history.slots else None
        times = (self.event_log.latest_time, newest_slot)
        return max((t for t in times if t is not None), default=None)

    def started(
        self,
        now: datetime,
        *,
        cloudflared_enabled: bool,
        previous: PreviousRun | None,
        reset_reason: str | None = None,
        monotonic: float | None = None,
    ) -> Update:
        """The agent starts measuring: `xp` becomes up, with an event saying how the
        previous run ended; `reset_reason` (a state file that could not be used) is
        recorded first as a `state_reset` event.

        States restored from a previous run start over as `unknown` until probed
        (what they were is history, not a measurement), keeping their restart
        attempts and times so the backoff goes on across agent restarts; no
        restart is in flight any more. cloudflared is `disabled` exactly when it is
        not enabled now, and a change of that since the last run is an event.

        A clock behind the previous run's last write (or the restored history's
        newest slot or event) is recorded first, as an `xp` warning.
        """
        events: list[Event] = []
        if previous is not None:
            vouched = max(previous.last_seen, self.latest_recorded_time() or previous.last_seen)
            if vouched - now > CLOCK_STEP_TOLERANCE:
                behind = spoken_duration(vouched - now)
                message = f"clock is {behind} behind the state file's last write"
                events.append(clock_warning_event(now, message))
        if reset_reason is not None:
            events.append(
                Event(
                    event_id=new_event_id(now),
                    occurred_at=now,
                    component=Component.XP,
                    kind=EventKind.STATE_RESET,
                    level=EventLevel.INFO,
                    message=f"state file could not be used, history starts empty: {reset_reason}",
                )
            )
        components = [self.component(Component.XP)]
        for state in self.components[1:]:
            reconciled, event = _reconciled(state, now, cloudflared_enabled=cloudflared_enabled)
            components.append(reconciled)
            events.extend(event)
        restored = attrs.evolve(
            self, components=tuple(components), observed_until=now, observed_monotonic=monotonic
        )

        xp = restored.component(Component.XP)
        if reset_reason is not None:
            detail = "agent started; the earlier state could not be used"
        elif previous is None:
            detail = "agent started; no earlier run recorded"
        else:
            how = "ended cleanly" if previous.ended_cleanly else "did not end cleanly"
            seen = format_time(previous.last_seen)
            detail = f"agent started; previous run {how}, last seen {seen}"
        # A restored `up` means the previous run never recorded its stop.
        from_state = (
            xp
            if xp.status is not ComponentStatus.UP
            else attrs.evolve(xp, status=ComponentStatus.DOWN)
        )
        events.append(status_changed_event(now, from_state, ComponentStatus.UP, detail=detail))
        xp_up = attrs.evolve(xp, status=ComponentStatus.UP, checked_at=now, down_since=None)
        runtime = restored._replaced(xp_up)
        changes = sum(1 for event in events if event.kind is EventKind.STATUS_CHANGED)
        return runtime._recorded(now, tuple(events), changes=changes)

    def stopped(self, now: datetime, *, monotonic: float | None = None) -> Update:
        """The agent stops cleanly: `xp` goes down and measuring ends."""

        def stop(runtime: NodeRuntime) -> tuple[NodeRuntime, tuple[Event, ...]]:
            xp = runtime.component(Component.XP)
            event = status_changed_event(now, xp, ComponentStatus.DOWN, detail="agent stopped")
            xp_down = attrs.evolve(xp, status=ComponentStatus.DOWN, checked_at=now, down_since=now)
            return runtime._replaced(xp_down), (event,)

        update = self._applied(now, stop, monotonic=monotonic)
        stopped = attrs.evolve(update.runtime, observed_until=None, observed_monotonic=None)
        return attrs.evolve(update, runtime=stopped)

    def probed(
        self,
        component: Component,
        result: ProbeResult,
        now: datetime,
        *,
        fails_before_down: int,
        monotonic: float | None = None,
    ) -> Update:
        """Apply one probe outcome of a supervised component."""

        def probe(runtime: NodeRuntime) -> tuple[NodeRuntime, tuple[Event, ...]]:
            state, events = observe(
                runtime.component(component), result, now, fails_before_down=fails_before_down
            )
            return runtime._replaced(state), events

        return self._applied(now, probe, monotonic=monotonic)

    def restart_requested(
        self, component: Component, now: datetime, *, how: str, monotonic: float | None = None
    ) -> Update:
        """Record that a restart of `component` is being requested (see restart_policy)."""

        def request(runtime: NodeRuntime) -> tuple[NodeRuntime, tuple[Event, ...]]:
            state, event = begin_restart(runtime.component(component), now, how=how)
            return runtime._replaced(state), (event,)

        return self._applied(now, request, monotonic=monotonic)

    def restart_finished(
        self,
        component: Component,
        result: RestartResult,
        now: datetime,
        *,
        monotonic: float | None = None,
    ) -> Update:
        """Record the outcome of the restart of `component` that was in flight."""

        def finish(runtime: NodeRuntime) -> tuple[NodeRuntime, tuple[Event, ...]]:
            state, event = finish_restart(runtime.component(component), result, now)
            return runtime._replaced(state), (event,)

        return self._applied(now, finish, monotonic=monotonic)

    # -- plumbing ----------------------------------------------------------

    def _replaced(self, state: ComponentState) -> NodeRuntime:
        index = COMPONENTS.index(state.component)
        components = (*self.components[:index], state, *self.components[index + 1 :])
        return attrs.evolve(self, components=components)

    def _interval_start(
        self, since: datetime, now: datetime, monotonic: float | None
    ) -> tuple[datetime, Event | None]:
        """Where the interval ending at `now` starts on the wall clock, and the
        warning when the wall clock stepped during it."""
        if monotonic is None or self.observed_monotonic is None:
            return since, None
        # Milliseconds, the precision the core keeps everywhere.
        measured = timedelta(milliseconds=round((monotonic - self.observed_monotonic) * 1000))
        step = (now - since) - measured
        if measured < timedelta(0) or abs(step) <= CLOCK_STEP_TOLERANCE:
            # Chained on the wall clock, so consecutive intervals add up exactly.
            return since, None
        direction = "forward" if step > timedelta(0) else "back"
        message = f"clock stepped {direction} by {spoken_duration(step)}"
        return now - measured, clock_warning_event(now, message)

    def _applied(
        self,
        now: datetime,
        change: Callable[[NodeRuntime], tuple[NodeRuntime, tuple[Event, ...]]],
        *,
        monotonic: float | None = None,
    ) -> Update:
        since = self.observed_until
        runtime = self
        warnings: tuple[Event, ...] = ()
        if since is not None:
            start, warning = self._interval_start(since, now, monotonic)
            warnings = () if warning is None else (warning,)
            # xp is up for as long as the agent measures: that is its probe.
            xp = attrs.evolve(self.component(Component.XP), checked_at=now)
            runtime = attrs.evolve(
                self._replaced(xp), history=self.history.account(start, now, self.observation())
            )
        runtime, events = change(runtime)
        events = (*warnings, *events)
        if since is not None:
            runtime = attrs.evolve(runtime, observed_until=now, observed_monotonic=monotonic)
        changes = sum(1 for event in events if event.kind is EventKind.STATUS_CHANGED)
        return runtime._recorded(now, events, changes=changes)

    def _recorded(self, now: datetime, events: tuple[Event, ...], *, changes: int) -> Update:
        history = self.history
        if self.observed_until is not None or changes:
            history = history.mark(now, self.observation(), changes=changes)
        runtime = attrs.evolve(
            self,
            history=history.pruned(now),
            event_log=self.event_log.recorded(events, now),
        )
        return Update(runtime, events)
