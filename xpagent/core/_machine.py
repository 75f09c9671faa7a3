"""The node's state machine: everything that changes a `NodeRuntime` lives here.

`NodeRuntime` ties the components' states, the slot history and the event log
together. It changes only through its inputs, one method each, and every input
returns the same shape, an `Update`: the new runtime and the events it recorded
(oldest first), which the shell publishes and persists.

| input                  | method             | events it may record                          |
|------------------------|--------------------|-----------------------------------------------|
| the agent starts       | `started`          | clock_warning, state_reset, status_changed    |
| time passes            | `advanced`         | clock_warning                                 |
| a probe answers        | `probed`           | clock_warning, status_changed                 |
| a restart is requested | `restart_requested`| clock_warning, restart_requested              |
| a restart ends         | `restart_finished` | clock_warning, restart_succeeded/failed       |
| the agent stops        | `stopped`          | clock_warning, status_changed (`xp` → down)   |

Every input takes `now` and, optionally, `monotonic` (below) and `ids`, the
source of event ids (`new_event_id` unless the caller passes its own: the same
inputs and the same ids give the same `Update`). Each first accounts the time
since the previous update to the history, with the state that held during it,
then applies its change to one component through a step below, each taking a
`ComponentState` and returning the new one with its events:

- `observe`: a probe outcome (the tracker). A component is `unknown` until its
  first probe answers or it fails `fails_before_down` times in a row; one
  success makes it `up` (clearing `down_since` and the outage's restart
  attempts); reaching the threshold of consecutive failures makes it `down`.
  A `down` component is `up` again only after `successes_before_up`
  consecutive successes (1, the default, is the rule above); until then it
  stays `down` and `recovering` counts them, and a failure starts the count
  over. Recovering records no event: the status has not changed.
- `begin_restart` / `finish_restart`: a restart requested, and its outcome. When
  one is due is the restart policy's question (`restart_due`), not a change.
- `reconciled`: a supervised component as a new run of the agent starts with it.

An input the rules forbid raises `TransitionError`: probing a disabled
component, requesting a restart while one is in flight, finishing one that was
never requested.

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

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timedelta

import attrs

from ._errors import TransitionError
from ._event_log import EventLog
from ._history import History, Observation
from ._models import (
    COMPONENTS,
    SUPERVISED,
    ByComponent,
    Component,
    ComponentState,
    ComponentStatus,
    Event,
    EventIds,
    EventKind,
    EventLevel,
    ProbeResult,
    Recovery,
    RestartResult,
    Slot,
    Summary,
    new_event_id,
)
from ._summary import summarize
from ._time import format_time, spoken_duration

__all__ = [
    "CLOCK_STEP_TOLERANCE",
    "NodeRuntime",
    "PreviousRun",
    "Snapshot",
    "Update",
    "begin_restart",
    "finish_restart",
    "observe",
    "reconciled",
]

#: How far the wall clock may disagree with the monotonic clock (or a restored
#: time) before it counts as stepped: far above the jitter of reading two clocks
#: and of NTP's slewing over one update interval, far below any real step.
CLOCK_STEP_TOLERANCE = timedelta(seconds=2)

#: One component's step: its new state and the events of the change.
Step = tuple[ComponentState, tuple[Event, ...]]


# -- events ---------------------------------------------------------------------


def _event(
    ids: EventIds,
    now: datetime,
    component: Component,
    kind: EventKind,
    message: str,
    *,
    level: EventLevel = EventLevel.INFO,
    status_from: ComponentStatus | None = None,
    status_to: ComponentStatus | None = None,
) -> Event:
    return Event(
        event_id=ids(now),
        occurred_at=now,
        component=component,
        kind=kind,
        level=level,
        message=message,
        status_from=status_from,
        status_to=status_to,
    )


def _status_changed(
    now: datetime,
    state: ComponentState,
    to: ComponentStatus,
    *,
    detail: str | None = None,
    ids: EventIds,
) -> Event:
    """The `status_changed` event for `state.component` moving to `to`.

    Going down is a warning, everything else is info; `detail` (a failure reason
    or a note) is appended in parentheses.
    """
    message = f"{state.component} status changed: {state.status} -> {to}"
    if detail:
        message += f" ({detail})"
    level = EventLevel.WARNING if to is ComponentStatus.DOWN else EventLevel.INFO
    return _event(
        ids,
        now,
        state.component,
        EventKind.STATUS_CHANGED,
        message,
        level=level,
        status_from=state.status,
        status_to=to,
    )


def _clock_warning(now: datetime, message: str, ids: EventIds) -> Event:
    """An `xp` warning that the wall clock cannot be trusted as it is."""
    return _event(
        ids, now, Component.XP, EventKind.CLOCK_WARNING, message, level=EventLevel.WARNING
    )


# -- one component's steps ------------------------------------------------------


def observe(
    state: ComponentState,
    result: ProbeResult,
    now: datetime,
    *,
    fails_before_down: int,
    successes_before_up: int = 1,
    ids: EventIds = new_event_id,
) -> Step:
    """Apply one probe outcome taken at `now` (see the tracker's rules above)."""
    if state.status is ComponentStatus.DISABLED:
        raise TransitionError(f"{state.component} is disabled and must not be probed")
    if fails_before_down < 1:
        raise TransitionError(f"fails_before_down must be at least 1, not {fails_before_down}")
    if successes_before_up < 1:
        raise TransitionError(f"successes_before_up must be at least 1, not {successes_before_up}")

    if result.ok:
        if state.status is ComponentStatus.DOWN:
            successes = (state.recovering.successes if state.recovering else 0) + 1
            if successes < successes_before_up:
                # Still down: the outage's reason and restart attempts stay.
                recovering = Recovery(successes=successes, needed=successes_before_up)
                new = attrs.evolve(
                    state, checked_at=now, consecutive_failures=0, recovering=recovering
                )
                return new, ()
        new = attrs.evolve(
            state,
            status=ComponentStatus.UP,
            checked_at=now,
            down_since=None,
            consecutive_failures=0,
            restart_attempts=0,
            last_error=None,
            recovering=None,
        )
        if state.status is ComponentStatus.UP:
            return new, ()
        return new, (_status_changed(now, state, ComponentStatus.UP, ids=ids),)

    failures = state.consecutive_failures + 1
    reason = result.reason or "probe failed"
    new = attrs.evolve(
        state, checked_at=now, consecutive_failures=failures, last_error=reason, recovering=None
    )
    if state.status is ComponentStatus.DOWN or failures < fails_before_down:
        return new, ()
    new = attrs.evolve(new, status=ComponentStatus.DOWN, down_since=now)
    return new, (_status_changed(now, state, ComponentStatus.DOWN, detail=reason, ids=ids),)


def begin_restart(
    state: ComponentState, now: datetime, *, how: str | None = None, ids: EventIds = new_event_id
) -> Step:
    """Record that a restart is being requested at `now` (mark it in flight)."""
    if state.restart_in_flight:
        raise TransitionError(f"{state.component} already has a restart in flight")
    attempt = state.restart_attempts + 1
    new = attrs.evolve(state, restart_attempts=attempt, last_restart_at=now, restart_in_flight=True)
    via = f" via {how}" if how else ""
    message = f"{state.component} restart requested{via} (attempt {attempt})"
    return new, (_event(ids, now, state.component, EventKind.RESTART_REQUESTED, message),)


def finish_restart(
    state: ComponentState, result: RestartResult, now: datetime, *, ids: EventIds = new_event_id
) -> Step:
    """Record the outcome of the restart in flight, reported at `now`."""
    if not state.restart_in_flight:
        raise TransitionError(f"{state.component} has no restart in flight")
    if result.ok:
        new = attrs.evolve(state, restart_in_flight=False)
        message = f"{state.component} restart command succeeded"
        return new, (_event(ids, now, state.component, EventKind.RESTART_SUCCEEDED, message),)
    new = attrs.evolve(state, restart_in_flight=False, last_restart_failed_at=now)
    message = f"{state.component} restart failed: {result.reason or 'failed'}"
    event = _event(
        ids, now, state.component, EventKind.RESTART_FAILED, message, level=EventLevel.WARNING
    )
    return new, (event,)


def reconciled(
    state: ComponentState, now: datetime, *, enabled: bool, ids: EventIds = new_event_id
) -> Step:
    """A supervised component's state as a new run of the agent starts with it.

    A restored state starts over as `unknown` until probed (what it was is
    history, not a measurement), keeping its restart attempts and times so the
    backoff goes on across agent restarts; no restart is in flight any more. A
    component is `disabled` exactly when it is not enabled now, and a change of
    that since the last run is an event.
    """
    was_disabled = state.status is ComponentStatus.DISABLED
    if not enabled:
        disabled = ComponentState(state.component, status=ComponentStatus.DISABLED)
        if was_disabled:
            return disabled, ()
        note = "not monitored on this node any more"
        event = _status_changed(now, state, ComponentStatus.DISABLED, detail=note, ids=ids)
        return disabled, (event,)
    fresh = attrs.evolve(
        state,
        status=ComponentStatus.UNKNOWN,
        down_since=None,
        consecutive_failures=0,
        last_error=None,
        restart_in_flight=False,
        recovering=None,
    )
    if was_disabled:
        note = "monitored on this node from now on"
        event = _status_changed(now, state, ComponentStatus.UNKNOWN, detail=note, ids=ids)
        return fresh, (event,)
    return fresh, ()


# -- the node -------------------------------------------------------------------


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
    """The result of every input: the new runtime and the events it recorded."""

    runtime: NodeRuntime
    events: tuple[Event, ...] = ()


def _by_component(
    states: Mapping[Component, ComponentState] | Iterable[ComponentState],
) -> ByComponent[ComponentState]:
    """Component states keyed by their component, in `COMPONENTS` order."""
    if isinstance(states, ByComponent):
        return states
    listed = states.values() if isinstance(states, Mapping) else states
    by_name = {state.component: state for state in listed}
    if set(by_name) != set(COMPONENTS):
        raise TransitionError(f"a node has exactly the components {', '.join(COMPONENTS)}")
    return ByComponent((component, by_name[component]) for component in COMPONENTS)


def _checked_enabled(enabled: Collection[Component]) -> frozenset[Component]:
    unsupervised = set(enabled) - set(SUPERVISED)
    if unsupervised:
        names = ", ".join(sorted(unsupervised))
        raise TransitionError(f"only supervised components can be enabled, not {names}")
    return frozenset(enabled)


#: A change applied to the runtime after the time since the last update is accounted.
_Change = Callable[["NodeRuntime"], tuple["NodeRuntime", tuple[Event, ...]]]


@attrs.frozen
class NodeRuntime:
    """One node's components (keyed by `Component`, all of `COMPONENTS`), history
    and events.

    `observed_until` is the wall time of the previous update, up to which time
    has been accounted to the history, and `observed_monotonic` the monotonic
    reading taken with it (None when the caller gives none); both are None while
    the agent is not measuring (before `started`, after `stopped`).
    """

    node_id: str
    components: ByComponent[ComponentState] = attrs.field(converter=_by_component)
    history: History = attrs.field(factory=History)
    event_log: EventLog = attrs.field(factory=EventLog)
    observed_until: datetime | None = None
    observed_monotonic: float | None = None

    @classmethod
    def new(cls, node_id: str, *, enabled: Collection[Component]) -> NodeRuntime:
        """A node seen for the first time: the `enabled` supervised components
        unknown, the others disabled, no history."""
        enabled = _checked_enabled(enabled)
        states = [ComponentState(Component.XP)]
        for component in SUPERVISED:
            status = ComponentStatus.UNKNOWN if component in enabled else ComponentStatus.DISABLED
            states.append(ComponentState(component, status=status))
        return cls(node_id, states)

    # -- reading -----------------------------------------------------------

    def component(self, component: Component) -> ComponentState:
        return self.components[component]

    @property
    def component_states(self) -> tuple[ComponentState, ...]:
        """Every component's state in `COMPONENTS` order, as the API lists them."""
        return tuple(self.components.values())

    @property
    def summary(self) -> Summary:
        return summarize(self.components.values())

    @property
    def events(self) -> tuple[Event, ...]:
        """All events, newest first."""
        return self.event_log.events

    def observation(self) -> Observation:
        statuses = ByComponent((name, state.status) for name, state in self.components.items())
        return Observation(summary=self.summary, statuses=statuses)

    def snapshot(self, now: datetime) -> Snapshot:
        return Snapshot(checked_at=now, summary=self.summary, components=self.component_states)

    def recent_slots(self, now: datetime) -> tuple[Slot, ...]:
        """Exactly 336 slots ending with the one in progress at `now`, oldest first."""
        return self.history.recent_slots(now)

    def latest_recorded_time(self) -> datetime | None:
        """The latest time the history and the events vouch for (None if empty)."""
        newest_slot = self.history.slots[-1].slot_start if self.history.slots else None
        times = (self.event_log.latest_time, newest_slot)
        return max((t for t in times if t is not None), default=None)

    # -- inputs ------------------------------------------------------------

    def started(
        self,
        now: datetime,
        *,
        enabled: Collection[Component],
        previous: PreviousRun | None,
        reset_reason: str | None = None,
        monotonic: float | None = None,
        ids: EventIds = new_event_id,
    ) -> Update:
        """The agent starts measuring: `xp` becomes up, with an event saying how the
        previous run ended; `reset_reason` (a state file that could not be used) is
        recorded first as a `state_reset` event.

        Every supervised component is `reconciled`: `disabled` exactly when it is
        not in `enabled`. A clock behind the previous run's last write (or the
        restored history's newest slot or event) is recorded first, as an `xp`
        warning.
        """
        enabled = _checked_enabled(enabled)
        events: list[Event] = []
        if previous is not None:
            vouched = max(previous.last_seen, self.latest_recorded_time() or previous.last_seen)
            if vouched - now > CLOCK_STEP_TOLERANCE:
                behind = spoken_duration(vouched - now)
                message = f"clock is {behind} behind the state file's last write"
                events.append(_clock_warning(now, message, ids))
        if reset_reason is not None:
            message = f"state file could not be used, history starts empty: {reset_reason}"
            events.append(_event(ids, now, Component.XP, EventKind.STATE_RESET, message))
        components = self.components
        for component in SUPERVISED:
            state, changed = reconciled(
                components[component], now, enabled=component in enabled, ids=ids
            )
            components = components.replaced(component, state)
            events.extend(changed)

        xp = components[Component.XP]
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
        events.append(_status_changed(now, from_state, ComponentStatus.UP, detail=detail, ids=ids))
        xp_up = attrs.evolve(xp, status=ComponentStatus.UP, checked_at=now, down_since=None)
        runtime = attrs.evolve(
            self,
            components=components.replaced(Component.XP, xp_up),
            observed_until=now,
            observed_monotonic=monotonic,
        )
        return runtime._recorded(now, tuple(events))

    def advanced(
        self, now: datetime, *, monotonic: float | None = None, ids: EventIds = new_event_id
    ) -> Update:
        """Account the time since the last update; no state changes. Its only
        possible event is a `clock_warning` for a wall clock stepped meanwhile."""
        return self._applied(now, lambda runtime: (runtime, ()), monotonic=monotonic, ids=ids)

    def ticked(self, now: datetime, *, monotonic: float | None = None) -> NodeRuntime:
        """`advanced(...).runtime`: for callers that only account time."""
        return self.advanced(now, monotonic=monotonic).runtime

    def probed(
        self,
        component: Component,
        result: ProbeResult,
        now: datetime,
        *,
        fails_before_down: int,
        successes_before_up: int = 1,
        monotonic: float | None = None,
        ids: EventIds = new_event_id,
    ) -> Update:
        """Apply one probe outcome of a supervised component (`observe`)."""
        return self._stepped(
            component,
            lambda state: observe(
                state,
                result,
                now,
                fails_before_down=fails_before_down,
                successes_before_up=successes_before_up,
                ids=ids,
            ),
            now,
            monotonic=monotonic,
            ids=ids,
        )

    def restart_requested(
        self,
        component: Component,
        now: datetime,
        *,
        how: str,
        monotonic: float | None = None,
        ids: EventIds = new_event_id,
    ) -> Update:
        """Record that a restart of `component` is being requested (`begin_restart`)."""
        return self._stepped(
            component,
            lambda state: begin_restart(state, now, how=how, ids=ids),
            now,
            monotonic=monotonic,
            ids=ids,
        )

    def restart_finished(
        self,
        component: Component,
        result: RestartResult,
        now: datetime,
        *,
        monotonic: float | None = None,
        ids: EventIds = new_event_id,
    ) -> Update:
        """Record the outcome of the restart of `component` in flight (`finish_restart`)."""
        return self._stepped(
            component,
            lambda state: finish_restart(state, result, now, ids=ids),
            now,
            monotonic=monotonic,
            ids=ids,
        )

    def stopped(
        self, now: datetime, *, monotonic: float | None = None, ids: EventIds = new_event_id
    ) -> Update:
        """The agent stops cleanly: `xp` goes down and measuring ends."""

        def stop(state: ComponentState) -> Step:
            event = _status_changed(
                now, state, ComponentStatus.DOWN, detail="agent stopped", ids=ids
            )
            down = attrs.evolve(state, status=ComponentStatus.DOWN, checked_at=now, down_since=now)
            return down, (event,)

        update = self._stepped(Component.XP, stop, now, monotonic=monotonic, ids=ids)
        stopped = attrs.evolve(update.runtime, observed_until=None, observed_monotonic=None)
        return attrs.evolve(update, runtime=stopped)

    # -- plumbing ----------------------------------------------------------

    def _stepped(
        self,
        component: Component,
        step: Callable[[ComponentState], Step],
        now: datetime,
        *,
        monotonic: float | None,
        ids: EventIds,
    ) -> Update:
        """Account the time since the last update, then apply `step` to `component`."""

        def change(runtime: NodeRuntime) -> tuple[NodeRuntime, tuple[Event, ...]]:
            state, events = step(runtime.components[component])
            return runtime._replaced(state), events

        return self._applied(now, change, monotonic=monotonic, ids=ids)

    def _replaced(self, state: ComponentState) -> NodeRuntime:
        return attrs.evolve(self, components=self.components.replaced(state.component, state))

    def _interval_start(
        self, since: datetime, now: datetime, monotonic: float | None, ids: EventIds
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
        return now - measured, _clock_warning(now, message, ids)

    def _applied(
        self, now: datetime, change: _Change, *, monotonic: float | None, ids: EventIds
    ) -> Update:
        since = self.observed_until
        runtime = self
        warnings: tuple[Event, ...] = ()
        if since is not None:
            start, warning = self._interval_start(since, now, monotonic, ids)
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
        return runtime._recorded(now, events)

    def _recorded(self, now: datetime, events: tuple[Event, ...]) -> Update:
        changes = sum(1 for event in events if event.kind is EventKind.STATUS_CHANGED)
        history = self.history
        if self.observed_until is not None or changes:
            history = history.mark(now, self.observation(), changes=changes)
        runtime = attrs.evolve(
            self,
            history=history.pruned(now),
            event_log=self.event_log.recorded(events, now),
        )
        return Update(runtime, events)
