"""What `xpagent status` shows, computed from a `RuntimeList`: no I/O.

One row per node: its summary, what is not up (or why it could not be reached),
the last 48 half-hour slots as a strip and its 7-day availability. `table` lays
the rows out for a terminal, with or without colour (every colour has a glyph or
word beside it), `document` is the same for `--json`, and `exit_status` says
whether the whole cluster is up.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from xpagent.core import (
    ComponentState,
    ComponentStatus,
    RuntimeItem,
    RuntimeList,
    Slot,
    Summary,
    format_time,
    to_json_value,
)

__all__ = [
    "ASCII_GLYPHS",
    "STRIP_SLOTS",
    "UNICODE_GLYPHS",
    "NodeRow",
    "availability",
    "document",
    "exit_status",
    "node_rows",
    "table",
]

#: The strip covers the last 24 hours: 48 slots of 30 minutes, newest right.
STRIP_SLOTS = 48
#: A slot's glyph: its height says how healthy it was, so the strip reads without colour.
UNICODE_GLYPHS = {
    Summary.UP: "█",
    Summary.DEGRADED: "▄",
    Summary.DOWN: "▁",
    Summary.UNKNOWN: "·",
}
ASCII_GLYPHS = {Summary.UP: "#", Summary.DEGRADED: "+", Summary.DOWN: "_", Summary.UNKNOWN: "."}

_SGR = {
    Summary.UP: "32",  # green
    Summary.DEGRADED: "33",  # yellow
    Summary.DOWN: "31",  # red
    Summary.UNKNOWN: "2",  # dim
}
_BOLD = "1"
_MAX_NODE_CHARS = 32
#: A time within this long ago is shown as its time of day only.
_RECENT = timedelta(hours=20)


@attrs.frozen
class NodeRow:
    """One node as `xpagent status` shows it."""

    node_id: str
    node_name: str
    summary: Summary
    problems: tuple[str, ...]
    strip: tuple[Summary, ...]
    availability: float | None
    components: tuple[ComponentState, ...]
    error: str | None = None

    @property
    def label(self) -> str:
        label = (
            self.node_id
            if self.node_name == self.node_id
            else (f"{self.node_id} ({self.node_name})")
        )
        if len(label) > _MAX_NODE_CHARS:
            label = label[: _MAX_NODE_CHARS - 1] + "…"
        return label


def availability(slots: Sequence[Slot]) -> float | None:
    """`1 - Σdown_secs / Σobserved_secs` (CONTRACT §3), None when nothing was observed."""
    observed = sum(slot.observed_secs for slot in slots)
    if observed <= 0:
        return None
    down = sum(slot.down_secs for slot in slots)
    return max(0.0, 1.0 - down / observed)


def _when(moment: datetime, now: datetime) -> str:
    if timedelta(0) <= now - moment < _RECENT:
        return moment.strftime("%H:%MZ")
    return moment.strftime("%Y-%m-%d %H:%MZ")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _problem(state: ComponentState, now: datetime) -> str:
    text = f"{state.component} {state.status}"
    if state.down_since is not None and state.status is ComponentStatus.DOWN:
        text += f" since {_when(state.down_since, now)}"
    if state.last_error:
        text += f": {state.last_error}"
    details: list[str] = []
    if state.restart_attempts:
        details.append(_plural(state.restart_attempts, "restart"))
    failed = state.last_restart_failed_at
    if failed is not None and (state.last_restart_at is None or failed >= state.last_restart_at):
        details.append(f"last failed {_when(failed, now)}")
    if state.restart_in_flight:
        details.append("restarting")
    if details:
        text += f" ({', '.join(details)})"
    return text


def _problems(item: RuntimeItem, now: datetime) -> tuple[str, ...]:
    if item.error is not None:
        return (f"unreachable: {item.error}",)
    return tuple(
        _problem(state, now)
        for state in item.components
        if state.status not in (ComponentStatus.UP, ComponentStatus.DISABLED)
    )


def node_rows(runtime: RuntimeList, now: datetime) -> tuple[NodeRow, ...]:
    """One row per node of `runtime`, in its order."""
    return tuple(
        NodeRow(
            node_id=item.node_id,
            node_name=item.node_name,
            summary=item.summary,
            problems=_problems(item, now),
            strip=tuple(slot.summary for slot in item.recent_slots[-STRIP_SLOTS:]),
            availability=availability(item.recent_slots),
            components=item.components,
            error=item.error,
        )
        for item in runtime.items
    )


def exit_status(runtime: RuntimeList) -> int:
    """0 when every node answered and is up, else 1."""
    all_up = all(item.summary is Summary.UP and item.error is None for item in runtime.items)
    return 0 if all_up and not runtime.partial else 1


def _percent(value: float | None) -> str:
    if value is None:
        return "-"
    # Floored, so that 99.999 % is not shown as a perfect 100.00 %.
    return f"{math.floor(value * 10000) / 100:.2f}%"


class _Paint:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, sgr: str) -> str:
        return f"\x1b[{sgr}m{text}\x1b[0m" if self.colour and text else text


def _strip(strip: Sequence[Summary], glyphs: dict[Summary, str], paint: _Paint) -> str:
    padded = [Summary.UNKNOWN] * (STRIP_SLOTS - len(strip)) + list(strip)
    runs: list[str] = []
    start = 0
    for index in range(1, len(padded) + 1):
        if index == len(padded) or padded[index] is not padded[start]:
            summary = padded[start]
            runs.append(paint(glyphs[summary] * (index - start), _SGR[summary]))
            start = index
    return "".join(runs)


def _counts(rows: Sequence[NodeRow]) -> str:
    counted: dict[str, int] = {}
    for row in rows:
        key = "unreachable" if row.error is not None else str(row.summary)
        counted[key] = counted.get(key, 0) + 1
    order = ("up", "degraded", "down", "unknown", "unreachable")
    parts = [f"{counted[key]} {key}" for key in order if key in counted]
    return f"{_plural(len(rows), 'node')}: {', '.join(parts) or 'none'}"


def _lines(
    rows: Sequence[NodeRow], *, url: str, now: datetime, paint: _Paint, glyphs: dict[Summary, str]
) -> Iterator[str]:
    node_width = max([len("NODE"), *(len(row.label) for row in rows)])
    yield paint(f"xpagent status: {url} at {format_time(now)}", _BOLD)
    yield ""
    header = (
        f"{'NODE':<{node_width}}  {'SUMMARY':<11}  {'7 DAYS':>7}  "
        f"{'LAST 24 H (30 MIN A SLOT, NEWEST RIGHT)':<{STRIP_SLOTS}}  PROBLEMS"
    )
    yield paint(header, _BOLD)
    for row in rows:
        summary_word = "unreachable" if row.error is not None else str(row.summary)
        summary = paint(f"{summary_word:<11}", _SGR[row.summary])
        problems = "; ".join(row.problems) or "-"
        if row.problems:
            problems = paint(problems, _SGR[Summary.DOWN if row.error else row.summary])
        yield (
            f"{row.label:<{node_width}}  {summary}  {_percent(row.availability):>7}  "
            f"{_strip(row.strip, glyphs, paint)}  {problems}"
        )
    yield ""
    yield _counts(rows)
    legend = "  ".join(f"{paint(glyphs[summary], _SGR[summary])} {summary}" for summary in _SGR)
    yield f"slots: {legend}"


def table(
    runtime: RuntimeList, *, url: str, now: datetime, colour: bool, unicode: bool = True
) -> str:
    """The cluster as a terminal table (ends with a newline).

    `colour` adds ANSI colours (each with a glyph or word beside it); without
    `unicode` the strip uses ASCII glyphs.
    """
    rows = node_rows(runtime, now)
    glyphs = UNICODE_GLYPHS if unicode else ASCII_GLYPHS
    lines = _lines(rows, url=url, now=now, paint=_Paint(colour), glyphs=glyphs)
    return "\n".join(lines) + "\n"


def document(runtime: RuntimeList, *, url: str, now: datetime) -> dict[str, Any]:
    """The same as `table`, as JSON data for `--json`."""
    return {
        "url": url,
        "checked_at": format_time(now),
        "exit_status": exit_status(runtime),
        "partial": runtime.partial,
        "unreachable_nodes": list(runtime.unreachable_nodes),
        "nodes": [
            {
                "node_id": row.node_id,
                "node_name": row.node_name,
                "summary": str(row.summary),
                "reachable": row.error is None,
                "error": row.error,
                "availability_7d": row.availability,
                "problems": list(row.problems),
                "components": to_json_value(row.components),
                "last_slots": [str(summary) for summary in row.strip],
            }
            for row in node_rows(runtime, now)
        ],
    }
