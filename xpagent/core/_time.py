"""RFC 3339 UTC times as the contract writes them: `2026-11-28T10:30:00Z`, or with
milliseconds (`2026-11-28T10:30:00.250Z`) when the time has a fraction; and
lengths of time as messages say them (`8 hours`, `56 years`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["format_time", "parse_time", "spoken_duration"]

_UNITS = (
    ("year", 365.25 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
    ("second", 1),
)


def format_time(moment: datetime) -> str:
    """`moment` as RFC 3339 UTC with a `Z`, milliseconds only when there are any."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # Formatted by hand: this runs for every slot of every answer, and strftime is slow.
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    millis = moment.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def parse_time(text: str) -> datetime:
    """An RFC 3339 date-time with an offset, as an aware UTC datetime.

    Raises ValueError for anything else, including a time without an offset.
    """
    if not isinstance(text, str) or len(text) < 20 or text[10] not in "Tt":
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(f"date-time without a UTC offset: {text!r}")
    return moment.astimezone(UTC)


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


def spoken_duration(length: timedelta) -> str:
    """`length` (its absolute value, to the nearest second) in its largest unit, and
    the next one below days: `56 years`, `3 days 4 hours`, `8 hours`, `1 minute 30 seconds`.
    """
    secs = round(abs(length).total_seconds())
    if secs == 0:
        return "0 seconds"
    for index, (unit, size) in enumerate(_UNITS):
        whole = int(secs // size)
        if whole == 0:
            continue
        text = _count(whole, unit)
        if unit != "year" and index + 1 < len(_UNITS):
            below, below_size = _UNITS[index + 1]
            rest = int((secs - whole * size) // below_size)
            if rest:
                text += " " + _count(rest, below)
        return text
    return "0 seconds"  # unreachable: secs >= 1 always has whole seconds
