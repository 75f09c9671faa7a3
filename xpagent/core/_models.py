"""The values the runtime core works with: enums, component state, slots, events.

Every value is a frozen attrs class; the core returns new values with
`attrs.evolve` and never mutates one. Times are timezone-aware UTC datetimes.

Per-component data is keyed by `Component` (`ByComponent`), never held in a
field per component: a newly monitored component is a new member of
`Component` (and of `SUPERVISED`), not a new field anywhere. The codec flattens
such a mapping into the contract's flat keys (`xp`, `xray`, `cloudflared`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Self, TypeVar

import attrs
from ulid import ULID

__all__ = [
    "ByComponent",
    "Component",
    "ComponentState",
    "ComponentStatus",
    "Event",
    "EventIds",
    "EventKind",
    "EventLevel",
    "ProbeResult",
    "Recovery",
    "RestartResult",
    "Slot",
    "Summary",
]


class Component(enum.StrEnum):
    """A part of a node. `xp` is the agent itself; the others (`SUPERVISED`) are
    probed and restarted by it."""

    XP = "xp"
    XRAY = "xray"
    CLOUDFLARED = "cloudflared"
    #: A component name sent by a newer node that this version does not know.
    UNKNOWN = "unknown"


class ComponentStatus(enum.StrEnum):
    """What is known of one component right now."""

    DISABLED = "disabled"
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class Summary(enum.StrEnum):
    """A node's status taken over its enabled supervised components."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


class EventKind(enum.StrEnum):
    STATUS_CHANGED = "status_changed"
    RESTART_REQUESTED = "restart_requested"
    RESTART_SUCCEEDED = "restart_succeeded"
    RESTART_FAILED = "restart_failed"
    STATE_RESET = "state_reset"
    #: The wall clock contradicts the monotonic clock or the stored history (an `xp`
    #: warning). Beyond CONTRACT §3's kinds; clients read kinds they do not know as
    #: `unknown`.
    CLOCK_WARNING = "clock_warning"
    #: A kind sent by a newer node that this version does not know.
    UNKNOWN = "unknown"


class EventLevel(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    #: A level sent by a newer node that this version does not know.
    UNKNOWN = "unknown"


#: The components the agent probes and restarts, in the contract's order: every
#: member of `Component` but the agent itself and the placeholder `unknown`.
SUPERVISED = tuple(c for c in Component if c not in (Component.XP, Component.UNKNOWN))
#: Every component a node reports, in the contract's order (`xp` first).
COMPONENTS = (Component.XP, *SUPERVISED)

T = TypeVar("T")


class ByComponent(Mapping[Component, T]):
    """An immutable, hashable mapping keyed by `Component`, in the order given.

    `replaced` returns a copy with one value changed; nothing mutates one.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[Component, T] | Iterable[tuple[Component, T]] = ()):
        self._items: dict[Component, T] = dict(items)

    def __getitem__(self, component: Component) -> T:
        return self._items[component]

    def __iter__(self) -> Iterator[Component]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ByComponent):
            return self._items == other._items
        return isinstance(other, Mapping) and self._items == dict(other.items())

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"ByComponent({self._items!r})"

    def replaced(self, component: Component, value: T) -> ByComponent[T]:
        return ByComponent({**self._items, component: value})


def _utc(value: datetime) -> datetime:
    """Normalise to UTC with millisecond precision, the precision the wire keeps."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the core works in aware UTC times")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


@attrs.frozen
class _Outcome:
    ok: bool
    reason: str | None = None

    @classmethod
    def success(cls) -> Self:
        return cls(ok=True)

    @classmethod
    def failure(cls, reason: str) -> Self:
        return cls(ok=False, reason=reason)


@attrs.frozen
class ProbeResult(_Outcome):
    """The outcome of one probe: it answered, or it failed for a short human reason.

    `calls_for_restart` is false for a failure that must not request a restart by
    itself (xray's data plane unless XP_XRAY_DATAPLANE_RESTART: a dead upstream
    fails it too). It counts as a failure all the same; the shell asks the restart
    policy only after failures that call for a restart.
    """

    calls_for_restart: bool = True


@attrs.frozen
class RestartResult(_Outcome):
    """The outcome of one restart command: exit 0, or a failure with its reason."""


@attrs.frozen
class Recovery:
    """A `down` component on its way back up: `successes` probes in a row have
    passed of the `needed` ones (`XP_*_HEALTH_SUCCESSES_BEFORE_UP`) that make it
    `up` again, so always 1 <= successes < needed."""

    successes: int
    needed: int


@attrs.frozen
class ComponentState:
    """The current state of one component, as the API and the state file show it.

    `restart_attempts` counts the restart requests of the current outage and is
    reset when the component is up again; the wait before the next request is
    derived from it (see `restart_policy`). `last_error` is the reason of the
    latest failed probe, cleared when the component is up again. `restart_in_flight`
    is true while a requested restart has not reported its outcome. `recovering`
    is set while the component is `down` but its latest probes passed, fewer of
    them than it needs to be `up` again (None otherwise, and in a state written
    before it existed).
    """

    component: Component
    status: ComponentStatus = ComponentStatus.UNKNOWN
    checked_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    down_since: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    consecutive_failures: int = 0
    restart_attempts: int = 0
    last_restart_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    last_restart_failed_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    last_error: str | None = None
    restart_in_flight: bool = False
    recovering: Recovery | None = None


SLOT_LENGTH = timedelta(minutes=30)
SLOT_SECS = 1800


def slot_start_of(moment: datetime) -> datetime:
    """The start of the half-hour slot (aligned to :00/:30 UTC) containing `moment`."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 30, second=0, microsecond=0)


_ALL_UNKNOWN: ByComponent[ComponentStatus] = ByComponent(
    (component, ComponentStatus.UNKNOWN) for component in COMPONENTS
)


def every_status(
    statuses: Mapping[Component, ComponentStatus] = _ALL_UNKNOWN,
) -> ByComponent[ComponentStatus]:
    """`statuses` for exactly `COMPONENTS`, in their order; a missing one is `unknown`."""
    if isinstance(statuses, ByComponent) and statuses.keys() == _ALL_UNKNOWN.keys():
        return statuses  # already complete (the common case: the core made it)
    return ByComponent(
        (component, statuses.get(component, ComponentStatus.UNKNOWN)) for component in COMPONENTS
    )


@attrs.frozen
class Slot:
    """Thirty minutes of one node's history: the worst state seen in them and for how long.

    `statuses` holds the worst status of every component (on the wire, flat keys
    `xp`, `xray`, `cloudflared`); `observed_secs` is how long the agent was
    measuring during the slot, `down_secs` how much of that the summary was down
    or degraded, `changes` how many status changes happened in it.
    """

    slot_start: datetime = attrs.field(converter=_utc)
    summary: Summary = Summary.UNKNOWN
    statuses: ByComponent[ComponentStatus] = attrs.field(
        default=_ALL_UNKNOWN, converter=every_status
    )
    observed_secs: int = 0
    down_secs: int = 0
    changes: int = 0

    def status_of(self, component: Component) -> ComponentStatus:
        return self.statuses.get(component, ComponentStatus.UNKNOWN)


#: A source of event ids: given the event's time, a new id unique in the log. The
#: caller of the state machine holds one (`new_event_id` by default), so tests can
#: make the same inputs give the same outputs.
EventIds = Callable[[datetime], str]


def new_event_id(now: datetime) -> str:
    """A ULID whose time part is `now` (randomness fills the rest)."""
    return str(ULID.from_datetime(now))


@attrs.frozen
class Event:
    """One entry of the event log, exactly as the API and the state file carry it."""

    event_id: str
    occurred_at: datetime = attrs.field(converter=_utc)
    component: Component
    kind: EventKind
    level: EventLevel
    message: str
    status_from: ComponentStatus | None = None
    status_to: ComponentStatus | None = None
