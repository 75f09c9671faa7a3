"""The runtime core driven at random against a trivial model of the contract's rules."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

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
    COMPONENTS,
    EVENT_RETENTION,
    MAX_EVENTS,
    SLOT_LENGTH,
    WINDOW_SLOTS,
    Component,
    ComponentStatus,
    EventKind,
    NodeRuntime,
    ProbeResult,
    RestartPolicy,
    RestartResult,
    Summary,
    restart_due,
    slot_start_of,
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


class ComponentModel:
    """What the contract says one supervised component should look like."""

    def __init__(self, *, enabled: bool) -> None:
        self.status = "unknown" if enabled else "disabled"
        self.failures = 0
        self.in_flight = False
        self.outage_requests: list[datetime] = []
        self.last_request: datetime | None = None


class RuntimeMachine(RuleBasedStateMachine):
    @initialize(
        cloudflared_enabled=st.booleans(),
        fails=st.integers(1, 4),
        restart_enabled=st.booleans(),
        cooldown=st.integers(1, 120),
        backoff_factor=st.integers(1, 40),
    )
    def start(
        self,
        cloudflared_enabled: bool,
        fails: int,
        restart_enabled: bool,
        cooldown: int,
        backoff_factor: int,
    ) -> None:
        self.now = START
        self.fails = fails
        self.policy = RestartPolicy(
            enabled=restart_enabled,
            cooldown_secs=cooldown,
            backoff_max_secs=cooldown * backoff_factor,
        )
        runtime = NodeRuntime.new("node-a", cloudflared_enabled=cloudflared_enabled)
        self.runtime = runtime.started(
            self.now, cloudflared_enabled=cloudflared_enabled, previous=None
        ).runtime
        self.models = {
            Component.XRAY: ComponentModel(enabled=True),
            Component.CLOUDFLARED: ComponentModel(enabled=cloudflared_enabled),
        }
        # Per slot start: the worst ranks the model saw, and the seconds it measured.
        self.worst: dict[datetime, dict[str, int]] = defaultdict(dict)
        self.observed: dict[datetime, int] = defaultdict(int)
        self.down: dict[datetime, int] = defaultdict(int)
        self.see(self.now)

    # -- the model -----------------------------------------------------------

    def statuses(self) -> dict[Component, str]:
        return {
            Component.XP: "up",
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

    def advance(self, step_ms: int) -> datetime:
        """Move the clock; second by second, credit the measured time to its slot."""
        before, self.now = self.now, self.now + timedelta(milliseconds=step_ms)
        if timedelta(0) < self.now - before <= timedelta(minutes=5):
            is_down = model_summary(self.statuses()) in ("down", "degraded")
            first = int((before - EPOCH).total_seconds() // 1)
            last = int((self.now - EPOCH).total_seconds() // 1)
            for second in range(first, last):
                slot = slot_start_of(EPOCH + timedelta(seconds=second))
                self.observed[slot] += 1
                self.down[slot] += is_down
                self.see(EPOCH + timedelta(seconds=second))
        return self.now

    def model_restart_due(self, component: Component) -> bool:
        model = self.models[component]
        if not self.policy.enabled or model.status != "down" or model.in_flight:
            return False
        if not model.outage_requests:
            last = model.last_request
            cooldown = timedelta(seconds=self.policy.cooldown_secs)
            return last is None or self.now - last >= cooldown
        attempts = len(model.outage_requests)
        wait = min(self.policy.cooldown_secs * 2 ** (attempts - 1), self.policy.backoff_max_secs)
        return self.now - model.outage_requests[-1] >= timedelta(seconds=wait)

    # -- rules ---------------------------------------------------------------

    @rule(step_ms=time_steps_ms)
    def time_passes(self, step_ms: int) -> None:
        self.runtime = self.runtime.ticked(self.advance(step_ms))
        self.see(self.now)

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
        result = ProbeResult.success() if ok else ProbeResult.failure("connection refused")
        update = self.runtime.probed(component, result, now, fails_before_down=self.fails)
        self.runtime = update.runtime

        before = model.status
        if ok:
            model.status, model.failures, model.outage_requests = "up", 0, []
        else:
            model.failures += 1
            if model.failures >= self.fails:
                model.status = "down"
        changed = [e for e in update.events if e.kind is EventKind.STATUS_CHANGED]
        assert len(changed) == (before != model.status)
        if changed:
            assert changed[0].status_from == before
            assert changed[0].status_to == model.status
            if model.status == "down":
                assert changed[0].message.endswith("(connection refused)")
        self.see(now)

    @rule(component=st.sampled_from([Component.XRAY, Component.CLOUDFLARED]))
    def request_restart(self, component: Component) -> None:
        if not self.model_restart_due(component):
            return
        model = self.models[component]
        if model.last_request is not None:
            assert self.now - model.last_request >= timedelta(seconds=self.policy.cooldown_secs)
        if model.outage_requests:
            gap = self.now - model.outage_requests[-1]
            attempts = len(model.outage_requests)
            assert gap >= self.policy.wait_after(attempts)
            assert gap >= timedelta(seconds=self.policy.cooldown_secs)
        update = self.runtime.restart_requested(component, self.now, how="systemd")
        self.runtime = update.runtime
        model.in_flight = True
        model.outage_requests.append(self.now)
        model.last_request = self.now
        assert [e.kind for e in update.events] == [EventKind.RESTART_REQUESTED]

    @precondition(lambda self: any(m.in_flight for m in self.models.values()))
    @rule(ok=st.booleans(), step_ms=time_steps_ms)
    def restart_finishes(self, ok: bool, step_ms: int) -> None:
        component = next(c for c, m in self.models.items() if m.in_flight)
        now = self.advance(step_ms)
        result = RestartResult.success() if ok else RestartResult.failure("exit 1: no unit")
        update = self.runtime.restart_finished(component, result, now)
        self.runtime = update.runtime
        self.models[component].in_flight = False
        expected = EventKind.RESTART_SUCCEEDED if ok else EventKind.RESTART_FAILED
        assert [e.kind for e in update.events] == [expected]
        self.see(now)

    # -- invariants ----------------------------------------------------------

    @invariant()
    def statuses_match_the_model(self) -> None:
        for component, model in self.models.items():
            state = self.runtime.component(component)
            assert state.status == model.status
            assert state.restart_in_flight == model.in_flight
            assert (state.down_since is not None) == (model.status == "down")
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
        # A slot never looks better than a state seen in it, and its time adds up.
        # Slots the history does not store are `unknown`: the model saw nothing there.
        window = {slot.slot_start for slot in slots}
        stored_slots = {slot.slot_start: slot for slot in self.runtime.history.slots}
        for start in window - stored_slots.keys():
            assert not self.worst.get(start), start
            assert not self.observed.get(start), start
        for slot in stored_slots.values():
            seen = self.worst.get(slot.slot_start, {})
            for component in COMPONENTS:
                status = slot.status_of(component)
                assert STATUS_RANK[status] >= seen.get(component.value, 0), (slot, seen)
            assert SUMMARY_RANK[slot.summary] >= seen.get("summary", 0), (slot, seen)
            assert 0 <= slot.down_secs <= slot.observed_secs <= 1800
            assert slot.observed_secs == self.observed.get(slot.slot_start, 0)
            assert slot.down_secs == self.down.get(slot.slot_start, 0)

    @invariant()
    def events_are_newest_first_and_retained(self) -> None:
        events = self.runtime.events
        assert len(events) <= MAX_EVENTS
        times = [event.occurred_at for event in events]
        assert times == sorted(times, reverse=True)
        assert all(t >= self.now - EVENT_RETENTION for t in times)
        assert len({event.event_id for event in events}) == len(events)

    @invariant()
    def disabled_cloudflared_has_no_events(self) -> None:
        if self.models[Component.CLOUDFLARED].status == "disabled":
            assert all(e.component is not Component.CLOUDFLARED for e in self.runtime.events)
            status = self.runtime.component(Component.CLOUDFLARED).status
            assert status is ComponentStatus.DISABLED


RuntimeMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestRuntimeMachine = RuntimeMachine.TestCase
