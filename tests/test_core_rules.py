"""The core's rules, case by case: summary, tracker, restart policy, history, events,
agent life and write timing."""

from __future__ import annotations

import ast
import itertools
import pathlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpagent.core
from xpagent.core import (
    MAX_EVENTS,
    SLOT_LENGTH,
    WINDOW_SLOTS,
    CodecError,
    Component,
    ComponentState,
    ComponentStatus,
    CoreError,
    Event,
    EventKind,
    EventLevel,
    EventLog,
    NodeRuntime,
    PreviousRun,
    ProbeResult,
    Recovery,
    RestartPolicy,
    RestartResult,
    StateFileError,
    Summary,
    TransitionError,
    Update,
    WriteSchedule,
    decode_state,
    encode_state,
    observe,
    restart_due,
    restore,
    slot_start_of,
    summarize,
)

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
UP, DOWN, UNKNOWN, DISABLED = (
    ComponentStatus.UP,
    ComponentStatus.DOWN,
    ComponentStatus.UNKNOWN,
    ComponentStatus.DISABLED,
)
FAIL = ProbeResult.failure("connection refused")
OK = ProbeResult.success()


def at(secs: float) -> datetime:
    return T0 + timedelta(seconds=secs)


def enabled(*, cloudflared: bool) -> set[Component]:
    return {Component.XRAY, Component.CLOUDFLARED} if cloudflared else {Component.XRAY}


def started(*, cloudflared: bool = False, now: datetime = T0) -> NodeRuntime:
    runtime = NodeRuntime.new("node-a", enabled=enabled(cloudflared=cloudflared))
    return runtime.started(now, enabled=enabled(cloudflared=cloudflared), previous=None).runtime


# -- summary ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xray", "cloudflared", "summary"),
    [
        (UP, UP, Summary.UP),
        (UP, DISABLED, Summary.UP),
        (DOWN, DOWN, Summary.DOWN),
        (DOWN, DISABLED, Summary.DOWN),
        (DOWN, UP, Summary.DEGRADED),
        (UP, DOWN, Summary.DEGRADED),
        (DOWN, UNKNOWN, Summary.DEGRADED),
        (UP, UNKNOWN, Summary.UNKNOWN),
        (UNKNOWN, DISABLED, Summary.UNKNOWN),
        (UNKNOWN, UNKNOWN, Summary.UNKNOWN),
    ],
)
def test_summary_follows_the_contract(xray, cloudflared, summary) -> None:
    """The summary is taken over xray and enabled cloudflared, xp never counts."""
    components = [
        ComponentState(Component.XP, status=DOWN),
        ComponentState(Component.XRAY, status=xray),
        ComponentState(Component.CLOUDFLARED, status=cloudflared),
    ]
    assert summarize(components) is summary


# -- tracker ------------------------------------------------------------------


def test_a_component_is_unknown_until_the_threshold_then_down() -> None:
    """Failures below the threshold keep `unknown`; reaching it makes `down` with the reason."""
    state = ComponentState(Component.XRAY)
    for second in (0, 2):
        state, events = observe(state, FAIL, at(second), fails_before_down=3)
        assert (state.status, events) == (UNKNOWN, ())
    state, events = observe(state, FAIL, at(4), fails_before_down=3)
    assert state.status is DOWN
    assert state.down_since == at(4)
    assert state.consecutive_failures == 3
    assert [e.message for e in events] == [
        "xray status changed: unknown -> down (connection refused)"
    ]
    assert events[0].level is EventLevel.WARNING


def test_one_success_makes_up_and_clears_the_outage() -> None:
    """A single success after an outage is `up`, without down_since or counters."""
    state = ComponentState(
        Component.XRAY, status=DOWN, down_since=at(0), consecutive_failures=7, restart_attempts=3
    )
    state, events = observe(state, OK, at(60), fails_before_down=3)
    assert (state.status, state.down_since, state.consecutive_failures) == (UP, None, 0)
    assert state.restart_attempts == 0
    assert [(e.message, e.level) for e in events] == [
        ("xray status changed: down -> up", EventLevel.INFO)
    ]


def test_an_up_component_needs_the_full_threshold_to_go_down() -> None:
    """A component that was up stays up through fewer failures than the threshold."""
    state = ComponentState(Component.XRAY, status=UP)
    state, _ = observe(state, FAIL, at(0), fails_before_down=2)
    assert state.status is UP
    assert state.last_error == "connection refused"
    state, events = observe(state, FAIL, at(2), fails_before_down=2)
    assert state.status is DOWN
    assert events[0].message == "xray status changed: up -> down (connection refused)"


def test_a_down_component_needs_the_successes_before_up_to_be_up_again() -> None:
    """With successes_before_up = 3 a down component stays down, recovering, through two
    passed probes, keeping its outage; the third makes it up."""
    state = ComponentState(
        Component.XRAY,
        status=DOWN,
        down_since=at(0),
        consecutive_failures=4,
        restart_attempts=2,
        last_error="connection refused",
    )
    for second, passed in ((10, 1), (12, 2)):
        state, events = observe(state, OK, at(second), fails_before_down=3, successes_before_up=3)
        assert events == ()
        assert state.status is DOWN
        assert state.recovering == Recovery(successes=passed, needed=3)
        assert (state.down_since, state.restart_attempts) == (at(0), 2)
        assert (state.checked_at, state.consecutive_failures) == (at(second), 0)
        assert state.last_error == "connection refused"
    state, events = observe(state, OK, at(14), fails_before_down=3, successes_before_up=3)
    assert (state.status, state.recovering, state.down_since) == (UP, None, None)
    assert (state.restart_attempts, state.last_error) == (0, None)
    assert [e.message for e in events] == ["xray status changed: down -> up"]


def test_a_failure_while_recovering_starts_the_count_over() -> None:
    """A failed probe ends the recovery: the component is still down and counts failures
    again, and the next success is the first of a new run."""
    state = ComponentState(Component.XRAY, status=DOWN, down_since=at(0))
    state, _ = observe(state, OK, at(2), fails_before_down=3, successes_before_up=2)
    assert state.recovering == Recovery(successes=1, needed=2)
    state, events = observe(state, FAIL, at(4), fails_before_down=3, successes_before_up=2)
    assert (state.status, state.recovering, state.consecutive_failures) == (DOWN, None, 1)
    assert events == ()
    state, _ = observe(state, OK, at(6), fails_before_down=3, successes_before_up=2)
    assert (state.status, state.recovering) == (DOWN, Recovery(successes=1, needed=2))
    state, _ = observe(state, OK, at(8), fails_before_down=3, successes_before_up=2)
    assert (state.status, state.recovering) == (UP, None)


@pytest.mark.parametrize("status", [UNKNOWN, UP])
def test_only_a_down_component_recovers(status: ComponentStatus) -> None:
    """An unknown component is up at its first success, an up one stays up: the count
    applies to coming back from down only (CONTRACT §6)."""
    state = ComponentState(Component.XRAY, status=status)
    state, _ = observe(state, OK, at(0), fails_before_down=3, successes_before_up=10)
    assert (state.status, state.recovering) == (UP, None)


def test_no_restart_is_requested_while_recovering() -> None:
    """A recovering component is answering again: the policy holds restarts until it is
    up or fails again."""
    policy = RestartPolicy(enabled=True, cooldown_secs=30)
    state = ComponentState(Component.XRAY, status=DOWN, down_since=at(0))
    assert restart_due(state, policy, at(0))
    recovering, _ = observe(state, OK, at(1), fails_before_down=3, successes_before_up=3)
    assert not restart_due(recovering, policy, at(1000))
    failed, _ = observe(recovering, FAIL, at(2), fails_before_down=3, successes_before_up=3)
    assert restart_due(failed, policy, at(2))


@given(
    start=st.sampled_from([UNKNOWN, UP, DOWN]),
    fails=st.integers(1, 4),
    outcomes=st.lists(st.booleans(), max_size=30),
)
def test_one_success_before_up_is_the_v1_rule(
    start: ComponentStatus, fails: int, outcomes: list[bool]
) -> None:
    """successes_before_up = 1 is CONTRACT §1's tracker exactly: one success makes a
    component up, and it is never recovering."""
    state = ComponentState(Component.XRAY, status=start)
    status, failures = start, 0
    for second, ok in enumerate(outcomes):
        result = OK if ok else FAIL
        state, _ = observe(
            state, result, at(second), fails_before_down=fails, successes_before_up=1
        )
        if ok:
            status, failures = UP, 0
        else:
            failures += 1
            status = DOWN if failures >= fails else status
        assert (state.status, state.recovering) == (status, None)


def test_successes_before_up_below_one_is_refused() -> None:
    """A recovery count below one is a programming error."""
    with pytest.raises(TransitionError, match="successes_before_up"):
        observe(ComponentState(Component.XRAY), OK, T0, fails_before_down=1, successes_before_up=0)


def test_a_new_run_of_the_agent_forgets_a_recovery() -> None:
    """A restored recovering component starts the new run unknown, without `recovering`."""
    runtime = started().probed(Component.XRAY, FAIL, at(1), fails_before_down=1).runtime
    runtime = runtime.probed(
        Component.XRAY, OK, at(2), fails_before_down=1, successes_before_up=3
    ).runtime
    assert runtime.component(Component.XRAY).recovering == Recovery(successes=1, needed=3)
    restored, previous = restore(decode_state(encode_state(runtime, at(3)), node_id="node-a"))
    assert restored.component(Component.XRAY).recovering == Recovery(successes=1, needed=3)
    again = restored.started(at(10), enabled={Component.XRAY}, previous=previous).runtime
    xray = again.component(Component.XRAY)
    assert (xray.status, xray.recovering) == (UNKNOWN, None)


def test_a_disabled_component_is_never_observed() -> None:
    """Probing a disabled component is a programming error, refused loudly."""
    with pytest.raises(ValueError, match="disabled"):
        observe(ComponentState(Component.CLOUDFLARED, status=DISABLED), OK, T0, fails_before_down=1)


def test_illegal_transitions_raise_the_cores_own_error() -> None:
    """Inputs the rules forbid raise TransitionError, one branch of the core's tree."""
    assert issubclass(TransitionError, CoreError)
    assert issubclass(CodecError, CoreError)
    assert issubclass(StateFileError, CoreError)
    runtime = started(cloudflared=False)
    with pytest.raises(TransitionError, match="disabled"):
        runtime.probed(Component.CLOUDFLARED, OK, at(1), fails_before_down=1)
    with pytest.raises(TransitionError, match="no restart in flight"):
        runtime.restart_finished(Component.XRAY, RestartResult.success(), at(1))
    runtime = runtime.restart_requested(Component.XRAY, at(1), how="systemd").runtime
    with pytest.raises(TransitionError, match="already has a restart in flight"):
        runtime.restart_requested(Component.XRAY, at(2), how="systemd")
    with pytest.raises(TransitionError, match="only supervised"):
        NodeRuntime.new("node-a", enabled={Component.XP})


def counting_ids() -> Callable[[datetime], str]:
    """A deterministic event id source: E0000, E0001, ..."""
    counter = itertools.count()
    return lambda now: f"E{next(counter):04d}"


def test_the_same_inputs_and_event_ids_give_the_same_updates() -> None:
    """With an injected id source, replaying the same inputs gives equal updates."""

    def replay() -> list[Update]:
        ids = counting_ids()
        first = NodeRuntime.new("node-a", enabled={Component.XRAY}).started(
            T0, enabled={Component.XRAY}, previous=None, ids=ids
        )
        updates = [first]
        runtime = first.runtime
        inputs: tuple[Callable[[NodeRuntime], Update], ...] = (
            lambda r: r.probed(Component.XRAY, FAIL, at(2), fails_before_down=1, ids=ids),
            lambda r: r.restart_requested(Component.XRAY, at(2), how="systemd", ids=ids),
            lambda r: r.restart_finished(Component.XRAY, RestartResult.success(), at(3), ids=ids),
            lambda r: r.advanced(at(60), monotonic=0.0, ids=ids),
            lambda r: r.stopped(at(90), ids=ids),
        )
        for update_of in inputs:
            updates.append(update_of(runtime))
            runtime = updates[-1].runtime
        return updates

    first, second = replay(), replay()
    assert first == second
    assert [e.event_id for u in first for e in u.events] == [f"E{n:04d}" for n in range(5)]


# -- restart policy -----------------------------------------------------------


def run_outage(policy: RestartPolicy, secs: int, step: int = 1) -> list[int]:
    """Seconds (from going down) at which restarts are requested during an outage."""
    runtime = started().probed(Component.XRAY, FAIL, T0, fails_before_down=1).runtime
    requests = []
    for second in range(0, secs, step):
        now = at(second)
        runtime = runtime.probed(Component.XRAY, FAIL, now, fails_before_down=1).runtime
        if restart_due(runtime.component(Component.XRAY), policy, now):
            runtime = runtime.restart_requested(Component.XRAY, now, how="systemd").runtime
            runtime = runtime.restart_finished(
                Component.XRAY, RestartResult.failure("exit 1"), now
            ).runtime
            requests.append(second)
    return requests


def test_restarts_back_off_from_the_cooldown_to_the_maximum() -> None:
    """Requests come at once, then after 30, 60, 120, 240, 480 s, then every 600 s."""
    policy = RestartPolicy(enabled=True, cooldown_secs=30, backoff_max_secs=600)
    assert run_outage(policy, 2 * 3600) == [
        0, 30, 90, 210, 450, 930, 1530, 2130, 2730, 3330, 3930, 4530, 5130, 5730, 6330, 6930,
    ]  # fmt: skip


def test_restart_mode_none_never_requests() -> None:
    """With restart mode `none` nothing is ever due."""
    assert run_outage(RestartPolicy(enabled=False), 3600, step=10) == []


def test_a_restart_in_flight_blocks_the_next() -> None:
    """No second request while one has not reported its outcome."""
    policy = RestartPolicy(enabled=True, cooldown_secs=1, backoff_max_secs=1)
    runtime = started().probed(Component.XRAY, FAIL, T0, fails_before_down=1).runtime
    runtime = runtime.restart_requested(Component.XRAY, T0, how="systemd").runtime
    assert not restart_due(runtime.component(Component.XRAY), policy, at(3600))
    with pytest.raises(ValueError, match="in flight"):
        runtime.restart_requested(Component.XRAY, at(3600), how="systemd")


def test_the_backoff_resets_after_recovery_but_the_cooldown_still_holds() -> None:
    """After `up`, the next outage restarts at once — but never within a cooldown of the last."""
    policy = RestartPolicy(enabled=True, cooldown_secs=30, backoff_max_secs=600)
    runtime = started().probed(Component.XRAY, FAIL, T0, fails_before_down=1).runtime
    for second in (0, 30, 90):
        runtime = runtime.restart_requested(Component.XRAY, at(second), how="x").runtime
        finished = runtime.restart_finished(Component.XRAY, RestartResult.success(), at(second))
        runtime = finished.runtime
    assert runtime.component(Component.XRAY).restart_attempts == 3
    runtime = runtime.probed(Component.XRAY, OK, at(100), fails_before_down=1).runtime
    runtime = runtime.probed(Component.XRAY, FAIL, at(102), fails_before_down=1).runtime
    state = runtime.component(Component.XRAY)
    assert state.restart_attempts == 0
    assert not restart_due(state, policy, at(119))
    assert restart_due(state, policy, at(120))


def test_restart_outcomes_are_recorded() -> None:
    """A failed restart is a warning with its reason and sets last_restart_failed_at."""
    runtime = started().probed(Component.XRAY, FAIL, T0, fails_before_down=1).runtime
    update = runtime.restart_requested(Component.XRAY, at(1), how="systemd")
    assert update.events[0].message == "xray restart requested via systemd (attempt 1)"
    update = update.runtime.restart_finished(
        Component.XRAY, RestartResult.failure("exit 5: Unit xray.service not found."), at(2)
    )
    (event,) = update.events
    assert (event.kind, event.level) == (EventKind.RESTART_FAILED, EventLevel.WARNING)
    assert event.message == "xray restart failed: exit 5: Unit xray.service not found."
    state = update.runtime.component(Component.XRAY)
    assert (state.last_restart_at, state.last_restart_failed_at) == (at(1), at(2))
    assert not state.restart_in_flight


# -- history ------------------------------------------------------------------


def test_a_ten_minute_outage_inside_a_slot_is_not_hidden() -> None:
    """A slot keeps the worst state, the seconds down and the changes, not the last state."""
    runtime = started(now=T0)
    for second in range(0, 1800, 2):
        ok = not 600 <= second < 1200
        result = OK if ok else FAIL
        runtime = runtime.probed(Component.XRAY, result, at(second), fails_before_down=1).runtime
    runtime = runtime.ticked(at(1800))
    slot = runtime.recent_slots(at(1800))[-2]
    assert slot.slot_start == T0
    xray, xp = slot.status_of(Component.XRAY), slot.status_of(Component.XP)
    assert (slot.summary, xray, xp) == (Summary.DOWN, DOWN, UP)
    assert (slot.observed_secs, slot.down_secs) == (1800, 600)
    # xp unknown -> up, xray unknown -> up, up -> down, down -> up
    assert slot.changes == 4


def test_recent_slots_are_336_aligned_and_end_with_the_current_one() -> None:
    """The window has 336 half-hour slots; unseen ones are unknown."""
    runtime = started(now=at(17))
    slots = runtime.recent_slots(at(4000))
    assert len(slots) == WINDOW_SLOTS
    assert slots[-1].slot_start == slot_start_of(at(4000)) == T0 + 2 * SLOT_LENGTH
    assert slots[0].slot_start == slots[-1].slot_start - 335 * SLOT_LENGTH
    assert slots[-3].status_of(Component.XP) is UP
    assert slots[-4].summary is Summary.UNKNOWN


def test_slots_older_than_seven_days_are_dropped() -> None:
    """History only keeps the 336-slot window."""
    runtime = started(now=T0).ticked(at(60))
    later = T0 + timedelta(days=7, minutes=1)
    runtime = runtime.ticked(later)
    assert all(slot.slot_start > T0 for slot in runtime.history.slots)


def test_a_long_gap_is_not_counted_as_observed() -> None:
    """Time the agent cannot vouch for (over five minutes between updates) is not observed."""
    runtime = started(now=T0).ticked(at(300)).ticked(at(301 + 300))
    slot = runtime.recent_slots(at(601))[-1]
    assert slot.observed_secs == 300


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(-12 * 3_600_000, 12 * 3_600_000),
            st.sampled_from(["tick", "ok", "fail", "cf-fail"]),
        ),
        max_size=40,
    )
)
def test_clock_jumps_never_crash_duplicate_or_reorder_slots(steps) -> None:
    """Whatever the clock does, slots stay unique, ordered, aligned and within 1800 s."""
    now = T0
    runtime = started(cloudflared=True, now=now)
    for step_ms, action in steps:
        now += timedelta(milliseconds=step_ms)
        if action == "tick":
            runtime = runtime.ticked(now)
        else:
            component = Component.CLOUDFLARED if action == "cf-fail" else Component.XRAY
            result = OK if action == "ok" else FAIL
            runtime = runtime.probed(component, result, now, fails_before_down=2).runtime
        stored = [slot.slot_start for slot in runtime.history.slots]
        assert stored == sorted(set(stored))
        assert len(stored) <= WINDOW_SLOTS
        for slot in runtime.history.slots:
            assert 0 <= slot.down_secs <= slot.observed_secs <= 1800
        recent = runtime.recent_slots(now)
        assert len(recent) == WINDOW_SLOTS
        assert all(
            b.slot_start - a.slot_start == SLOT_LENGTH for a, b in itertools.pairwise(recent)
        )
    # Whatever happened, the state still encodes to a file the loader accepts.
    decode_state(encode_state(runtime, now))


# -- event log ----------------------------------------------------------------


def make_event(moment: datetime, index: int) -> Event:
    return Event(
        event_id=f"E{index:05d}",
        occurred_at=moment,
        component=Component.XRAY,
        kind=EventKind.STATUS_CHANGED,
        level=EventLevel.INFO,
        message=f"event {index}",
    )


def test_the_event_log_keeps_the_newest_2000() -> None:
    """Past 2000 events the oldest are dropped first."""
    log = EventLog()
    for index in range(2100):
        log = log.recorded([make_event(at(index), index)], at(index))
    assert len(log.events) == MAX_EVENTS
    assert log.events[0].event_id == "E02099"
    assert log.events[-1].event_id == "E00100"
    assert [e.event_id for e in log.latest(2)] == ["E02099", "E02098"]


def test_the_event_log_keeps_seven_days() -> None:
    """Events older than seven days are dropped, even when nothing new is recorded."""
    log = EventLog().recorded([make_event(at(0), 0), make_event(at(3600), 1)], at(3600))
    assert [e.event_id for e in log.events] == ["E00001", "E00000"]
    log = log.recorded([], T0 + timedelta(days=7, seconds=1))
    assert [e.event_id for e in log.events] == ["E00001"]


# -- agent life ---------------------------------------------------------------


def test_the_first_start_says_so() -> None:
    """The first start is an xp event from unknown to up."""
    update = NodeRuntime.new("node-a", enabled={Component.XRAY}).started(
        T0, enabled={Component.XRAY}, previous=None
    )
    (event,) = update.events
    assert (event.component, event.kind, event.status_from, event.status_to) == (
        Component.XP,
        EventKind.STATUS_CHANGED,
        UNKNOWN,
        UP,
    )
    assert event.message == (
        "xp status changed: unknown -> up (agent started; no earlier run recorded)"
    )


def test_a_clean_stop_and_restart_are_recorded() -> None:
    """A clean stop records xp going down; the next start says the run ended cleanly."""
    runtime = started(now=T0)
    stop = runtime.stopped(at(100))
    assert [e.message for e in stop.events] == ["xp status changed: up -> down (agent stopped)"]
    state_file = decode_state(encode_state(stop.runtime, at(100)))
    restored, previous = restore(state_file)
    assert previous == PreviousRun(ended_cleanly=True, last_seen=at(100))
    update = restored.started(at(500), enabled={Component.XRAY}, previous=previous)
    assert update.events[-1].message == (
        "xp status changed: down -> up "
        "(agent started; previous run ended cleanly, last seen 2026-11-28T10:01:40Z)"
    )
    assert update.runtime.events[1:] == stop.runtime.events


def test_a_crash_is_recognised_at_the_next_start() -> None:
    """A state file whose xp is still up means the previous run did not end cleanly."""
    runtime = started(now=T0).probed(Component.XRAY, FAIL, at(2), fails_before_down=1).runtime
    runtime = runtime.restart_requested(Component.XRAY, at(2), how="systemd").runtime
    restored, previous = restore(decode_state(encode_state(runtime, at(30))))
    assert previous == PreviousRun(ended_cleanly=False, last_seen=at(30))
    update = restored.started(at(90), enabled={Component.XRAY}, previous=previous)
    assert "previous run did not end cleanly, last seen 2026-11-28T10:00:30Z" in (
        update.events[-1].message
    )
    assert update.events[-1].status_from is DOWN
    xray = update.runtime.component(Component.XRAY)
    # A restored state is history, not a measurement; the backoff goes on.
    assert (xray.status, xray.restart_in_flight, xray.restart_attempts) == (UNKNOWN, False, 1)
    assert xray.last_restart_at == at(2)


def test_a_reset_is_recorded_before_the_start() -> None:
    """An unusable state file shows as a state_reset event followed by the start event."""
    update = NodeRuntime.new("node-a", enabled={Component.XRAY}).started(
        T0, enabled={Component.XRAY}, previous=None, reset_reason="not JSON"
    )
    assert [e.kind for e in update.events] == [EventKind.STATE_RESET, EventKind.STATUS_CHANGED]
    assert update.events[0].message.endswith("history starts empty: not JSON")
    assert [e.kind for e in update.runtime.events] == [
        EventKind.STATUS_CHANGED,
        EventKind.STATE_RESET,
    ]


def test_enabling_cloudflared_between_runs_is_an_event() -> None:
    """A component switched on or off between two runs shows as a status change."""
    runtime = started(cloudflared=False).stopped(at(10)).runtime
    update = runtime.started(at(20), enabled=enabled(cloudflared=True), previous=None)
    assert update.runtime.component(Component.CLOUDFLARED).status is UNKNOWN
    assert update.events[0].message == (
        "cloudflared status changed: disabled -> unknown (monitored on this node from now on)"
    )
    update = update.runtime.stopped(at(30)).runtime.started(
        at(40), enabled={Component.XRAY}, previous=None
    )
    assert update.runtime.component(Component.CLOUDFLARED).status is DISABLED


def test_cloudflared_disabled_never_appears_in_events() -> None:
    """With cloudflared off, a whole run records nothing about it."""
    runtime = started(cloudflared=False)
    for second in range(0, 100, 2):
        runtime = runtime.probed(Component.XRAY, FAIL, at(second), fails_before_down=1).runtime
    runtime = runtime.stopped(at(100)).runtime
    assert all(e.component is not Component.CLOUDFLARED for e in runtime.events)
    assert runtime.component(Component.CLOUDFLARED).status is DISABLED


# -- write timing -------------------------------------------------------------


def test_a_new_event_is_written_within_a_second_and_bursts_coalesce() -> None:
    """After a write, events are written no sooner than a second later, all together."""
    schedule = WriteSchedule().changed(T0, new_events=True)
    assert schedule.write_due(T0)
    schedule = schedule.written(T0)
    assert not schedule.write_due(at(5))
    schedule = schedule.changed(at(0.2), new_events=True).changed(at(0.5), new_events=True)
    assert schedule.due_at() == at(1)
    assert not schedule.write_due(at(0.9))
    assert schedule.write_due(at(1))


def test_probe_ticks_without_events_are_written_every_five_minutes_or_at_the_slot() -> None:
    """Changes without events wait five minutes or for the next slot, whichever is first."""
    schedule = WriteSchedule().written(at(10)).changed(at(12), new_events=False)
    assert schedule.due_at() == at(310)
    assert not schedule.write_due(at(309))
    assert schedule.write_due(at(310))
    late = WriteSchedule().written(at(1700)).changed(at(1702), new_events=False)
    assert late.due_at() == T0 + SLOT_LENGTH


def test_a_clock_set_back_does_not_stall_writes() -> None:
    """A pending write is due at once when the clock went back before the last write."""
    schedule = WriteSchedule().written(at(100)).changed(at(100), new_events=True)
    assert schedule.write_due(at(50))


# -- purity -------------------------------------------------------------------

FORBIDDEN = {"trio", "quart", "quart_trio", "httpx", "hypercorn", "time", "asyncio", "os", "socket"}


def test_the_core_does_no_io() -> None:
    """No module of the core imports an I/O or clock library."""
    core = pathlib.Path(xpagent.core.__file__).parent
    for path in core.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
        assert "datetime.now" not in path.read_text(), path.name
