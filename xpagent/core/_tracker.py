"""The status tracker: one probe outcome in, the component's new state and events out.

A component is `unknown` until its first probe answers or it fails
`fails_before_down` times in a row; one success makes it `up`; reaching the
threshold of consecutive failures makes it `down`. Leaving `down` clears
`down_since` and the restart attempts of that outage.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ._models import (
    ComponentState,
    ComponentStatus,
    Event,
    EventKind,
    EventLevel,
    ProbeResult,
    new_event_id,
)

__all__ = ["observe", "status_changed_event"]


def status_changed_event(
    now: datetime,
    state: ComponentState,
    to: ComponentStatus,
    *,
    detail: str | None = None,
) -> Event:
    """The `status_changed` event for `state.component` moving to `to`.

    Going down is a warning, everything else is info; `detail` (a failure reason
    or a note) is appended in parentheses.
    """
    message = f"{state.component} status changed: {state.status} -> {to}"
    if detail:
        message += f" ({detail})"
    return Event(
        event_id=new_event_id(now),
        occurred_at=now,
        component=state.component,
        kind=EventKind.STATUS_CHANGED,
        level=EventLevel.WARNING if to is ComponentStatus.DOWN else EventLevel.INFO,
        message=message,
        status_from=state.status,
        status_to=to,
    )


def observe(
    state: ComponentState,
    result: ProbeResult,
    now: datetime,
    *,
    fails_before_down: int,
) -> tuple[ComponentState, tuple[Event, ...]]:
    """Apply one probe outcome taken at `now`; return the new state and its events."""
    if state.status is ComponentStatus.DISABLED:
        raise ValueError(f"{state.component} is disabled and must not be probed")
    if fails_before_down < 1:
        raise ValueError(f"fails_before_down must be at least 1, not {fails_before_down}")

    if result.ok:
        new = attrs.evolve(
            state,
            status=ComponentStatus.UP,
            checked_at=now,
            down_since=None,
            consecutive_failures=0,
            restart_attempts=0,
            last_error=None,
        )
        if state.status is ComponentStatus.UP:
            return new, ()
        return new, (status_changed_event(now, state, ComponentStatus.UP),)

    failures = state.consecutive_failures + 1
    reason = result.reason or "probe failed"
    new = attrs.evolve(state, checked_at=now, consecutive_failures=failures, last_error=reason)
    if state.status is ComponentStatus.DOWN or failures < fails_before_down:
        return new, ()
    new = attrs.evolve(new, status=ComponentStatus.DOWN, down_since=now)
    return new, (status_changed_event(now, state, ComponentStatus.DOWN, detail=reason),)
