"""The summary rules of CONTRACT §3 and the "worst state" orders slots use."""

from __future__ import annotations

from collections.abc import Iterable

from ._models import SUPERVISED, ComponentState, ComponentStatus, Summary

__all__ = ["summarize", "worse_status", "worse_summary"]


def summarize(components: Iterable[ComponentState]) -> Summary:
    """A node's summary over its enabled supervised components (`SUPERVISED`).

    `xp` is the reporter and never counts; a `disabled` component does not count.
    All up → up; all down → down; some down → degraded; otherwise, with any
    unknown (or nothing to judge), unknown.
    """
    statuses = [
        state.status
        for state in components
        if state.component in SUPERVISED and state.status is not ComponentStatus.DISABLED
    ]
    if statuses and all(status is ComponentStatus.UP for status in statuses):
        return Summary.UP
    if statuses and all(status is ComponentStatus.DOWN for status in statuses):
        return Summary.DOWN
    if ComponentStatus.DOWN in statuses:
        return Summary.DEGRADED
    return Summary.UNKNOWN


# Higher is worse. A slot keeps the worst value seen during it.
_STATUS_RANK = {
    ComponentStatus.UNKNOWN: 0,
    ComponentStatus.DISABLED: 1,
    ComponentStatus.UP: 2,
    ComponentStatus.DOWN: 3,
}
_SUMMARY_RANK = {
    Summary.UNKNOWN: 0,
    Summary.UP: 1,
    Summary.DEGRADED: 2,
    Summary.DOWN: 3,
}


def worse_status(a: ComponentStatus, b: ComponentStatus) -> ComponentStatus:
    """The worse of two component statuses: down > up > disabled > unknown."""
    return a if _STATUS_RANK[a] >= _STATUS_RANK[b] else b


def worse_summary(a: Summary, b: Summary) -> Summary:
    """The worse of two summaries: down > degraded > up > unknown."""
    return a if _SUMMARY_RANK[a] >= _SUMMARY_RANK[b] else b
