"""The restart policy: when a down component may be restarted.

A restart is requested as soon as a component is `down` (when its restart mode is
not `none`), then again while it stays down: the wait after attempt *n* is
`cooldown × 2^(n-1)`, capped at `backoff_max`, counted from that request. The
attempt count belongs to the outage and is reset when the component is up again
(by the tracker), so the next outage starts with an immediate request — but
never sooner than a cooldown after the previous request, whatever the outage. At
most one restart is in flight per component, and none is requested while a
component is recovering (its probes pass again: a restart would only interrupt
that). The policy only decides: recording a request and its outcome are steps of
the state machine (`_machine`), running the command is the shell's work.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from ._models import ComponentState, ComponentStatus

__all__ = ["RestartPolicy", "next_restart_at", "restart_due"]


@attrs.frozen
class RestartPolicy:
    """How one component is restarted. `enabled` is false for restart mode `none`."""

    enabled: bool
    cooldown_secs: int = 30
    backoff_max_secs: int = 600

    def __attrs_post_init__(self) -> None:
        if self.cooldown_secs < 1:
            raise ValueError(f"cooldown_secs must be at least 1, not {self.cooldown_secs}")
        if self.backoff_max_secs < self.cooldown_secs:
            raise ValueError("backoff_max_secs must not be below cooldown_secs")

    def wait_after(self, attempt: int) -> timedelta:
        """The minimum gap between request number `attempt` (1-based) and the next."""
        # Cap the exponent: 2**60 seconds is beyond any backoff maximum we accept.
        secs = self.cooldown_secs * 2 ** min(max(attempt - 1, 0), 60)
        return timedelta(seconds=min(secs, self.backoff_max_secs))


def next_restart_at(state: ComponentState, policy: RestartPolicy) -> datetime | None:
    """The earliest time the next restart may be requested, or None when none is wanted.

    A component that is not down or is recovering, a disabled policy or a
    restart in flight wants none. The first request of an outage is due when it
    went down, or a cooldown after the previous request if that is later (a
    flapping component cannot cause a restart storm).
    """
    if not policy.enabled or state.status is not ComponentStatus.DOWN:
        return None
    if state.restart_in_flight or state.recovering is not None:
        return None
    went_down = state.down_since or state.checked_at
    last = state.last_restart_at
    if last is None:
        return went_down
    if state.restart_attempts == 0:
        # A new outage: at once, unless the previous request is not a cooldown old.
        floor = last + timedelta(seconds=policy.cooldown_secs)
        return floor if went_down is None else max(went_down, floor)
    return last + policy.wait_after(state.restart_attempts)


def restart_due(state: ComponentState, policy: RestartPolicy, now: datetime) -> bool:
    """Whether a restart should be requested at `now`.

    A clock behind a time the wait is counted from (the last request, or when the
    component went down: set back, or behind a time restored from the state
    file) cannot measure the wait: it is then taken as over, rather than holding
    restarts off for the length of the step.
    """
    due_at = next_restart_at(state, policy)
    if due_at is None:
        return False
    anchors = (state.last_restart_at, state.down_since)
    return now >= due_at or any(anchor is not None and now < anchor for anchor in anchors)
