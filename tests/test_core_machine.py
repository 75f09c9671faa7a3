"""The runtime core driven at random against a trivial model of the contract's rules.

The machine keeps two clocks, as the daemon does: a wall clock, which it may step
back or forward between updates, and a monotonic clock, which only moves
forward with time. It also restarts the agent — cleanly or by a crash — through
the state file. Whatever the clocks do, the time the agent measured is credited
once: per slot, exactly what the model placed (capped at the slot's 1800 s).

Recovery hysteresis: a `down` component is `up` again only after M
(`successes_before_up`) consecutive successful probes, and M = 1 is the contract's
"one success makes it up" — the model below is the v1 rule plus that one count.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from xpagent.core import (
    CLOCK_STEP_TOLERANCE,
    COMPONENTS,
    EVENT_RETENTION,
    MAX_EVENTS,
    MAX_OBSERVATION_GAP,
    SLOT_LENGTH,
    SLOT_SECS,
    WINDOW_SLOTS,
    Component,
    ComponentStatus,
    Event,
    EventKind,
    NodeRuntime,
    ProbeResult,
    Recovery,
    RestartPolicy,
    RestartResult,
    Summary,
    decode_state,
    encode_state,
    restart_due,
    restore,
    slot_start_of,
    window_start_of,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START = datetime(2026, 11, 28, 9, 58, 17, 250_000, tzinfo=UTC)

# Trivially ordered ranks, written out again on purpose (not imported from the core).
STATUS_RANK = {"unknown": 0, "disabled": 1, "up": 2, "down": 3}
SUMMARY_RANK = {"unknown": 0, "up": 1, "degraded": 2, "down": 3}

time_steps_ms = st.one_of(
    st.integers(0, 5_000),
    st.integers(0, 10 * 60_000),
    st.integers(0, 12 * 3_600_000),
)
# Wall-clock steps beyond the tolerance, both ways, up to half a day.
TOLERANCE_MS = CLOCK_STEP_TOLERANCE // timedelta(milliseconds=1)
clock_steps_ms = st.integers(TOLERANCE_MS + 1, 12 * 3_600_000).flatmap(
    lambda size: st.sampled_from([size, -size])
)


def model_summary(statuses: dict[Component, str]) -> str:
    judged = [
        statuses[c] for c in (Component.XRAY, Component.CLOUDFLARED) if statuses[c] != "disabled"
    ]
    if judged and all(s == "up" for s in judged):
        return "up"
    if judged and all(s == "down" for s in judged):
        return "down"
    if "down" in judged:
        return "degraded"
    return "unknown"


def whole_secs(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(seconds=1)


class ComponentModel:
    """What the contract says one supervised component should look like."""

    def __init__(self, *, enabled: bool) -> None:
        self.status = "unknown" if enabled else "disabled"
        self.failures = 0
        #: Passed probes of the current recovery (0 = not recovering).
        self.successes = 0
        #: Successful probes in a row, counted apart from the rules, for the property.
        self.streak = 0
        self.in_flight = False
        self.down_at: datetime | None = None
        self.outage_requests: list[datetime] = []
        self.last_request: datetime | None = None


class RuntimeMachine(RuleBasedStateMachine):
    @initialize(
        cloudflared_enabled=st.booleans(),
        fails=st.integers(1, 4),
        successes=st.integers(1, 4),
        restart_enabled=st.booleans(),
        cooldown=st.integers(1, 120),
        backoff_factor=st.integers(1, 40),
        monotonic_origin=st.integers(0, 10**6),
    )
    def start(
        self,
        cloudflared_enabled: bool,
        fails: int,
        successes: int,
        restart_enabled: bool,
        cooldown: int,
        backoff_factor: int,
        monotonic_origin: int,
    ) -> None:
        self.now = START
        #: The monotonic clock in milliseconds (trio's clock, in the daemon).
        self.mono_ms = monotonic_origin
        self.fails = fails
        self.successes_before_up = successes
        self.cloudflared_enabled = cloudflared_enabled
        self.enabled = {Component.XRAY} | (
            {Component.CLOUDFLARED} if cloudflared_enabled else set()
        )
        self.policy = RestartPolicy(
            enabled=restart_enabled,
            cooldown_secs=cooldown,
            backoff_max_secs=cooldown * backoff_factor,
        )
        self.models = {
            Component.XRAY: ComponentModel(enabled=True),
            Component.CLOUDFLARED: ComponentModel(enabled=cloudflared_enabled),
        }
        self.running = True
        # Per slot start: the worst ranks the model saw, the seconds it placed there
        # (observed and down), before the 1800-s cap.
        self.worst: dict[datetime, dict[str, int]] = defaultdict(dict)
        self.placed: dict[datetime, int] = defaultdict(int)
        self.placed_down: dict[datetime, int] = defaultdict(int)
        #: The latest wall time of any update: the core prunes against it.
        self.high_water = self.now
        #: The model's event log: (event_id, occurred_at), newest first.
        self.log: list[tuple[str, datetime]] = []
        self.stepped_back = False
        runtime = NodeRuntime.new("node-a", enabled=self.enabled)
        update = runtime.started(
            self.now,
            enabled=self.enabled,
            previous=None,
            monotonic=self.monotonic,
        )
        self.after_update(update.events, clock_warning=None)
        self.runtime = update.runtime
        self.last_update = (self.now, self.mono_ms)
        self.see(self.now)

    @property
    def monotonic(self) -> float:
        return self.mono_ms / 1000

    # -- the model -----------------------------------------------------------

    def statuses(self) -> dict[Component, str]:
        return {
            Component.XP: "up" if self.running else "down",
            Component.XRAY: self.models[Component.XRAY].status,
            Component.CLOUDFLARED: self.models[Component.CLOUDFLARED].status,
        }

    def see(self, moment: datetime) -> None:
        """Note the model's current statuses as seen at `moment`."""
        ranks = self.worst[slot_start_of(moment)]
        statuses = self.statuses()
        for component, status in statuses.items():
            key = component.value
            ranks[key] = max(ranks.get(key, 0), STATUS_RANK[status])
        summary_rank = SUMMARY_RANK[model_summary(statuses)]
        ranks["summary"] = max(ranks.get("summary", 0), summary_rank)
        self.high_water = max(self.high_water, moment)

    def advance(self, step_ms: int) -> datetime:
        """Time passes: both clocks move by `step_ms`."""
        self.now += timedelta(milliseconds=step_ms)
        self.mono_ms += step_ms
        return self.now

    def measure(self) -> str | None:
        """An update happens now: place the time measured since the previous one.

        The interval's length is the monotonic clock's; it ends at the wall clock's
        `now`. Unless the wall clock stepped by more than the tolerance meanwhile,
        it starts where the previous one ended (so intervals chain exactly).
        Second by second, credit it to its slot. Returns the expected warning's
        direction ("back"/"forward") when the wall clock stepped.
        """
        since, since_mono_ms = self.last_update
        measured = timedelta(milliseconds=self.mono_ms - since_mono_ms)
        step = (self.now - since) - measured
        start, direction = since, None
        if abs(step) > CLOCK_STEP_TOLERANCE:
            start = self.now - measured
            direction = "forward" if step > timedelta(0) else "back"
        if timedelta(0) < self.now - start <= MAX_OBSERVATION_GAP:
            is_down = model_summary(self.statuses()) in ("down", "degraded")
            for second in range(whole_secs(start), whole_secs(self.now)):
                moment = EPOCH + timedelta(seconds=second)
                self.placed[slot_start_of(moment)] += 1
                self.placed_down[slot_start_of(moment)] += is_down
                self.see(moment)
        self.last_update = (self.now, self.mono_ms)
        return direction

    def after_update(self, events: tuple[Event, ...], *, clock_warning: str | None) -> None:
        """Check an update's clock warning against the model and log its events."""
        warnings = [e for e in events if e.kind is EventKind.CLOCK_WARNING]
        if clock_warning is None:
            assert warnings == []
        else:
            assert len(warnings) == 1
            assert warnings[0].component is Component.XP
            assert warnings[0].level.value == "warning"
            assert warnings[0].message.startswith(f"clock stepped {clock_warning} by ")
        self.log = [(e.event_id, e.occurred_at) for e in reversed(events)] + self.log
        horizon = self.now - EVENT_RETENTION
        self.log = [(eid, at) for eid, at in self.log[:MAX_EVENTS] if at >= horizon]

    def model_restart_due(self, component: Component) -> bool:
        model = self.models[component]
        if not self.policy.enabled or model.status != "down" or model.in_flight:
            return False
        if model.successes:
            return False  # recovering: its probes pass, a restart would interrupt that
        # A clock behind what the wait counts from cannot measure it: it is over.
        anchors = (model.last_request, model.down_at)
        if any(anchor is not None and self.now < anchor for anchor in anchors):
            return True
        if not model.outage_requests:
            last = model.last_request
            cooldown = timedelta(seconds=self.policy.cooldown_secs)
            return last is None or self.now - last >= cooldown
        attempts = len(model.outage_requests)
        wait = min(self.policy.cooldown_secs * 2 ** (attempts - 1), self.policy.backoff_max_secs)
        return self.now - model.outage_requests[-1] >= timedelta(seconds=wait)

    # -- rules ---------------------------------------------------------------

    @precondition(lambda self: self.running)
    @rule(step_ms=time_steps_ms)
    def time_passes(self, step_ms: int) -> None:
        self.advance(step_ms)
        warning = self.measure()
        update = self.runtime.advanced(self.now, monotonic=self.monotonic)
        self.runtime = update.runtime
        self.after_update(update.events, clock_warning=warning)
        self.see(self.now)

    @rule(step_ms=clock_steps_ms)
    def the_wall_clock_is_stepped(self, step_ms: int) -> None:
        """NTP (or an operator) sets the wall clock; the monotonic clock does not move."""
        self.now += timedelta(milliseconds=step_ms)
        self.stepped_back = self.stepped_back or step_ms < 0

    @precondition(lambda self: self.running)
    @rule(
        component=st.sampled_from([Component.XRAY, Component.CLOUDFLARED]),
        ok=st.booleans(),
        step_ms=time_steps_ms,
    )
    def probe(self, component: Component, ok: bool, step_ms: int) -> None:
        model = self.models[component]
        if model.status == "disabled":
            return
        now = self.advance(step_ms)
        warning = self.measure()
        result = ProbeResult.success() if ok else ProbeResult.failure("connection refused")
        update = self.runtime.probed(
            component,
            result,
            now,
            fails_before_down=self.fails,
            successes_before_up=self.successes_before_up,
            monotonic=self.monotonic,
        )
        self.runtime = update.runtime
        self.after_update(update.events, clock_warning=warning)

        before = model.status
        if ok:
            model.streak += 1
            model.failures = 0
            if model.status == "down" and model.successes + 1 < self.successes_before_up:
                model.successes += 1
            else:
                model.status, model.successes, model.outage_requests = "up", 0, []
                model.down_at = None
        else:
            model.streak, model.successes = 0, 0
            model.failures += 1
            if model.failures >= self.fails and model.status != "down":
                model.status, model.down_at = "down", now
        changed = [e for e in update.events if e.kind is EventKind.STATUS_CHANGED]
        assert len(changed) == (before != model.status)
        if changed:
            assert changed[0].status_from == before
            assert changed[0].status_to == model.status
            if model.status == "down":
                assert changed[0].message.endswith("(connection refused)")
        if before == "down" and self.runtime.component(component).status is ComponentStatus.UP:
            # The property itself, whatever the model's bookkeeping: no `up` from `down`
            # before M successes in a row.
            assert model.streak >= self.successes_before_up
        self.see(now)

    @precondition(lambda self: self.running)
    @rule(component=st.sampled_from([Component.XRAY, Component.CLOUDFLARED]))
    def request_restart(self, component: Component) -> None:
        if not self.model_restart_due(component):
            return
        model = self.models[component]
        clock_sane = not any(
            anchor is not None and self.now < anchor
            for anchor in (model.last_request, model.down_at)
        )
        if model.last_request is not None and clock_sane:
            assert self.now - model.last_request >= timedelta(seconds=self.policy.cooldown_secs)
        if model.outage_requests and clock_sane:
            gap = self.now - model.outage_requests[-1]
            attempts = len(model.outage_requests)
            assert gap >= self.policy.wait_after(attempts)
            assert gap >= timedelta(seconds=self.policy.cooldown_secs)
        warning = self.measure()
        update = self.runtime.restart_requested(
            component, self.now, how="systemd", monotonic=self.monotonic
        )
        self.runtime = update.runtime
        self.after_update(update.events, clock_warning=warning)
        model.in_flight = True
        model.outage_requests.append(self.now)
        model.last_request = self.now
        kinds = [e.kind for e in update.events if e.kind is not EventKind.CLOCK_WARNING]
        assert kinds == [EventKind.RESTART_REQUESTED]
        self.see(self.now)

    @precondition(lambda self: self.running and any(m.in_flight for m in self.models.values()))
    @rule(ok=st.booleans(), step_ms=time_steps_ms)
    def restart_finishes(self, ok: bool, step_ms: int) -> None:
        component = next(c for c, m in self.models.items() if m.in_flight)
        now = self.advance(step_ms)
        warning = self.measure()
        result = RestartResult.success() if ok else RestartResult.failure("exit 1: no unit")
        update = self.runtime.restart_finished(component, result, now, monotonic=self.monotonic)
        self.runtime = update.runtime
        self.after_update(update.events, clock_warning=warning)
        self.models[component].in_flight = False
        expected = EventKind.RESTART_SUCCEEDED if ok else EventKind.RESTART_FAILED
        assert [e.kind for e in update.events if e.kind is not EventKind.CLOCK_WARNING] == [
            expected
        ]
        self.see(now)

    @precondition(lambda self: self.running)
    @rule(
        clean=st.booleans(),
        down_ms=st.integers(0, 3_600_000),
        clock_step_ms=st.just(0) | clock_steps_ms,
        monotonic_origin=st.integers(0, 10**6),
    )
    def the_agent_restarts(
        self, clean: bool, down_ms: int, clock_step_ms: int, monotonic_origin: int
    ) -> None:
        """The agent stops (cleanly, or by a crash that loses what was not written),
        its state goes through the file, and a new process starts with a new
        monotonic clock, maybe after the wall clock was set."""
        if clean:
            warning = self.measure()
            update = self.runtime.stopped(self.now, monotonic=self.monotonic)
            self.runtime = update.runtime
            self.after_update(update.events, clock_warning=warning)
            self.running = False
            self.see(self.now)
            written_at = self.now
        else:
            written_at, _ = self.last_update  # the last write: nothing after it survives
            self.running = False
        data = encode_state(self.runtime, written_at)
        runtime, previous = restore(decode_state(data, node_id="node-a"))

        self.now += timedelta(milliseconds=down_ms + clock_step_ms)
        self.stepped_back = self.stepped_back or clock_step_ms < 0
        self.mono_ms = monotonic_origin
        # What the file vouches for: its write, its newest slot, its latest event.
        vouched = max([written_at, max(self.worst), *(at for _, at in self.log)])
        update = runtime.started(
            self.now,
            enabled=self.enabled,
            previous=previous,
            monotonic=self.monotonic,
        )
        self.runtime = update.runtime
        behind = [e for e in update.events if e.kind is EventKind.CLOCK_WARNING]
        if vouched - self.now > CLOCK_STEP_TOLERANCE:
            assert len(behind) == 1
            assert behind[0].message.startswith("clock is ")
            assert behind[0].message.endswith(" behind the state file's last write")
        else:
            assert behind == []
        self.log = [(e.event_id, e.occurred_at) for e in reversed(update.events)] + self.log
        self.log = [
            (eid, at) for eid, at in self.log[:MAX_EVENTS] if at >= self.now - EVENT_RETENTION
        ]
        self.running = True
        self.last_update = (self.now, self.mono_ms)
        for model in self.models.values():
            if model.status != "disabled":
                model.status, model.failures, model.down_at = "unknown", 0, None
            model.successes = model.streak = 0
            model.in_flight = False
        self.see(self.now)

    # -- invariants ----------------------------------------------------------

    @invariant()
    def statuses_match_the_model(self) -> None:
        for component, model in self.models.items():
            state = self.runtime.component(component)
            assert state.status == model.status
            assert state.restart_in_flight == model.in_flight
            assert (state.down_since is not None) == (model.status == "down")
            expected = (
                Recovery(successes=model.successes, needed=self.successes_before_up)
                if model.successes
                else None
            )
            assert state.recovering == expected
            if self.successes_before_up == 1:
                assert state.recovering is None  # M = 1: the v1 rule, no recovering state
        assert self.runtime.summary == Summary(model_summary(self.statuses()))

    @invariant()
    def restart_is_due_exactly_when_the_model_says(self) -> None:
        for component in self.models:
            state = self.runtime.component(component)
            assert restart_due(state, self.policy, self.now) == self.model_restart_due(component)

    @invariant()
    def slots_are_336_aligned_and_no_better_than_seen(self) -> None:
        slots = self.runtime.recent_slots(self.now)
        assert len(slots) == WINDOW_SLOTS
        assert slots[-1].slot_start == slot_start_of(self.now)
        for older, newer in itertools.pairwise(slots):
            assert newer.slot_start - older.slot_start == SLOT_LENGTH
        stored = [slot.slot_start for slot in self.runtime.history.slots]
        assert stored == sorted(set(stored))
        assert len(stored) <= WINDOW_SLOTS
        # The core keeps every slot within the window of the latest time it saw
        # (never fewer because the clock went back). A slot never looks better than
        # a state seen in it. Slots the history does not store are `unknown`: the
        # model saw nothing there.
        kept_from = window_start_of(self.high_water)
        stored_slots = {slot.slot_start: slot for slot in self.runtime.history.slots}
        assert all(start >= kept_from for start in stored_slots)
        for start in {slot.slot_start for slot in slots} - stored_slots.keys():
            if start >= kept_from:
                assert not self.worst.get(start), start
        for start in self.worst.keys() - stored_slots.keys():
            assert start < kept_from, start
        for slot in stored_slots.values():
            seen = self.worst.get(slot.slot_start, {})
            for component in COMPONENTS:
                status = slot.status_of(component)
                assert STATUS_RANK[status] >= seen.get(component.value, 0), (slot, seen)
            assert SUMMARY_RANK[slot.summary] >= seen.get("summary", 0), (slot, seen)
            assert 0 <= slot.down_secs <= slot.observed_secs <= SLOT_SECS

    @invariant()
    def measured_time_is_counted_once(self) -> None:
        """Each slot holds exactly the seconds measured and placed in it: none lost to a
        clock set back, none counted twice (only a full slot caps them at 1800)."""
        for slot in self.runtime.history.slots:
            placed = self.placed.get(slot.slot_start, 0)
            assert slot.observed_secs == min(placed, SLOT_SECS), slot
            placed_down = self.placed_down.get(slot.slot_start, 0)
            assert slot.down_secs == min(placed_down, slot.observed_secs), slot

    @invariant()
    def events_are_newest_first_and_retained(self) -> None:
        events = self.runtime.events
        assert len(events) <= MAX_EVENTS
        assert [(e.event_id, e.occurred_at) for e in events] == self.log
        times = [event.occurred_at for event in events]
        if not self.stepped_back:
            # Without a clock set back, recording order is time order.
            assert times == sorted(times, reverse=True)
        last_update_at, _ = self.last_update
        assert all(t >= last_update_at - EVENT_RETENTION for t in times)
        assert len({event.event_id for event in events}) == len(events)

    @invariant()
    def disabled_cloudflared_has_no_events(self) -> None:
        if self.models[Component.CLOUDFLARED].status == "disabled":
            assert all(e.component is not Component.CLOUDFLARED for e in self.runtime.events)
            status = self.runtime.component(Component.CLOUDFLARED).status
            assert status is ComponentStatus.DISABLED


RuntimeMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestRuntimeMachine = pytest.mark.slow(RuntimeMachine.TestCase)
