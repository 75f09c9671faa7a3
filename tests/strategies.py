"""Hypothesis strategies for the core's wire models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from xpagent.core import (
    COMPONENTS,
    SLOT_LENGTH,
    Component,
    ComponentState,
    ComponentStatus,
    Event,
    EventKind,
    EventLevel,
    Recovery,
    Slot,
    Snapshot,
    StateFile,
    Summary,
)

BASE = datetime(2026, 11, 28, tzinfo=UTC)

times = st.integers(-(10**10), 10**10).map(lambda ms: BASE + timedelta(milliseconds=ms))
optional_times = st.none() | times
texts = st.text(max_size=40)
counters = st.integers(0, 10**6)
statuses = st.sampled_from(ComponentStatus)


def component_states(component: Component) -> st.SearchStrategy[ComponentState]:
    return st.builds(
        ComponentState,
        component=st.just(component),
        status=statuses,
        checked_at=optional_times,
        down_since=optional_times,
        consecutive_failures=counters,
        restart_attempts=counters,
        last_restart_at=optional_times,
        last_restart_failed_at=optional_times,
        last_error=st.none() | texts,
        restart_in_flight=st.booleans(),
        recovering=st.none() | st.builds(Recovery, successes=counters, needed=counters),
    )


snapshots = st.builds(
    Snapshot,
    checked_at=times,
    summary=st.sampled_from(Summary),
    components=st.tuples(*(component_states(c) for c in COMPONENTS)),
)


@st.composite
def slots(draw: st.DrawFn, start: datetime | None = None) -> Slot:
    if start is None:
        start = BASE + draw(st.integers(-1000, 1000)) * SLOT_LENGTH
    observed = draw(st.integers(0, 1800))
    return Slot(
        slot_start=start,
        summary=draw(st.sampled_from(Summary)),
        statuses={component: draw(statuses) for component in COMPONENTS},
        observed_secs=observed,
        down_secs=draw(st.integers(0, observed)),
        changes=draw(st.integers(0, 10_000)),
    )


events = st.builds(
    Event,
    event_id=st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26),
    occurred_at=times,
    component=st.sampled_from(Component),
    kind=st.sampled_from(EventKind),
    level=st.sampled_from(EventLevel),
    message=texts,
    status_from=st.none() | statuses,
    status_to=st.none() | statuses,
)


@st.composite
def slot_sequences(draw: st.DrawFn) -> tuple[Slot, ...]:
    """Up to 336 slots with distinct, increasing starts."""
    indexes = sorted(draw(st.sets(st.integers(0, 335), max_size=12)))
    return tuple(draw(slots(BASE + index * SLOT_LENGTH)) for index in indexes)


state_files = st.builds(
    StateFile,
    node_id=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    last_snapshot=snapshots,
    recent_slots=slot_sequences(),
    events=st.lists(events, max_size=8).map(tuple),
)
