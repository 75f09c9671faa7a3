"""`GET /metrics`: this node's runtime in the Prometheus / OpenMetrics text format.

Built with `prometheus_client` through one custom collector over the recorder:
every scrape reads the node's current `NodeRuntime` and the recorder's
`RunningTotals` (nothing is copied into client-library metric objects, so there is
no second source of truth), in one synchronous step, so a scrape is consistent
with itself. Each app has its own `CollectorRegistry`; the library's global one
(and its process and platform collectors) is not used.

Node-level only: the aggregated list of the cluster is not re-exported — each
node is its own scrape target. The format follows the scraper's `Accept` header
as `prometheus_client` negotiates it: OpenMetrics 1.0 when asked for, the classic
text format (0.0.4) otherwise.

| family | type | labels |
|---|---|---|
| `xpagent_node_info` | info | `node_id`, `node_name`, `version` |
| `xpagent_start_time_seconds` | gauge | |
| `xpagent_component_status` | stateset | `component`, `xpagent_component_status` (the state) |
| `xpagent_component_consecutive_failures` | gauge | `component` |
| `xpagent_component_status_age_seconds` | gauge | `component` |
| `xpagent_component_probe_duration_seconds` | gauge | `component` (probed ones) |
| `xpagent_component_restart_requests_total` | counter | `component` (supervised) |
| `xpagent_component_restart_outcomes_total` | counter | `component`, `outcome` |
| `xpagent_slot_observed_seconds` | gauge | `slot` (`current`/`previous`) |
| `xpagent_slot_down_seconds` | gauge | `slot` |
| `xpagent_slot_status_changes` | gauge | `slot` |
| `xpagent_state_file_write_failures_total` | counter | |

Counters count since the agent started (`_created` is its start time).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from quart import Response, request
from quart_trio import QuartTrio

from xpagent import __version__
from xpagent.core import SUPERVISED, ComponentStatus, EventKind, Slot
from xpagent.daemon import NodeHandle, Recorder

from ._routes import METRICS_PATH

__all__ = ["FAMILIES", "RuntimeCollector", "metrics_registry", "register_metrics"]

#: Every family a scrape carries, named as the OpenMetrics parser names them.
FAMILIES = (
    "xpagent_node",
    "xpagent_start_time_seconds",
    "xpagent_component_status",
    "xpagent_component_consecutive_failures",
    "xpagent_component_status_age_seconds",
    "xpagent_component_probe_duration_seconds",
    "xpagent_component_restart_requests",
    "xpagent_component_restart_outcomes",
    "xpagent_slot_observed_seconds",
    "xpagent_slot_down_seconds",
    "xpagent_slot_status_changes",
    "xpagent_state_file_write_failures",
)

_OUTCOMES = {"succeeded": EventKind.RESTART_SUCCEEDED, "failed": EventKind.RESTART_FAILED}


class RuntimeCollector:
    """A `prometheus_client` collector reading `recorder` at every scrape."""

    def __init__(self, recorder: Recorder, *, node_id: str, node_name: str) -> None:
        self._recorder = recorder
        self._info = {"node_id": node_id, "node_name": node_name, "version": __version__}

    def collect(self) -> Iterator[Metric]:
        recorder = self._recorder
        runtime, now, monotonic = recorder.runtime, recorder.now(), recorder.monotonic()
        totals = recorder.totals
        created = None if totals.started_at is None else totals.started_at.timestamp()

        yield InfoMetricFamily("xpagent_node", "This node and the agent's version.", self._info)
        if created is not None:
            yield GaugeMetricFamily(
                "xpagent_start_time_seconds",
                "When the agent started, in seconds since the Unix epoch.",
                created,
                unit="seconds",
            )

        status = StateSetMetricFamily(
            "xpagent_component_status",
            "Each component's status (xp is the agent itself).",
            labels=["component"],
        )
        failures = GaugeMetricFamily(
            "xpagent_component_consecutive_failures",
            "Failed probes in a row (0 after a success).",
            labels=["component"],
        )
        age = GaugeMetricFamily(
            "xpagent_component_status_age_seconds",
            "Seconds since the component's status last changed (or the agent started).",
            labels=["component"],
            unit="seconds",
        )
        for name, state in runtime.components.items():
            labels = [name.value]
            status.add_metric(labels, {s.value: s is state.status for s in ComponentStatus})
            failures.add_metric(labels, state.consecutive_failures)
            changed_at = totals.status_changed_at.get(name)
            if changed_at is not None:
                age.add_metric(labels, max(0.0, monotonic - changed_at))
        yield from (status, failures, age)

        probe = GaugeMetricFamily(
            "xpagent_component_probe_duration_seconds",
            "How long the component's latest probe took.",
            labels=["component"],
            unit="seconds",
        )
        for name, secs in totals.probe_secs.items():
            probe.add_metric([name.value], secs)
        yield probe

        requests = CounterMetricFamily(
            "xpagent_component_restart_requests",
            "Restarts requested since the agent started.",
            labels=["component"],
        )
        outcomes = CounterMetricFamily(
            "xpagent_component_restart_outcomes",
            "Restarts that ended since the agent started, by outcome (succeeded = the "
            "restart command exited 0).",
            labels=["component", "outcome"],
        )
        for name in SUPERVISED:
            count = totals.events[name, EventKind.RESTART_REQUESTED]
            requests.add_metric([name.value], count, created=created)
            for outcome, kind in _OUTCOMES.items():
                outcomes.add_metric([name.value, outcome], totals.events[name, kind], created)
        yield from (requests, outcomes)

        yield from _slot_families(*runtime.recent_slots(now)[-2:])

        yield CounterMetricFamily(
            "xpagent_state_file_write_failures",
            "Writes of the state file that failed since the agent started.",
            totals.write_failures.count,
            created=created,
        )


def _slot_families(previous: Slot, current: Slot) -> Iterator[Metric]:
    """The previous and the current half-hour slot's accounting, as gauges."""
    observed = GaugeMetricFamily(
        "xpagent_slot_observed_seconds",
        "Seconds the agent measured in the slot.",
        labels=["slot"],
        unit="seconds",
    )
    down = GaugeMetricFamily(
        "xpagent_slot_down_seconds",
        "Seconds of the slot the node's summary was down or degraded.",
        labels=["slot"],
        unit="seconds",
    )
    changes = GaugeMetricFamily(
        "xpagent_slot_status_changes", "Status changes in the slot.", labels=["slot"]
    )
    for which, slot in (("previous", previous), ("current", current)):
        observed.add_metric([which], slot.observed_secs)
        down.add_metric([which], slot.down_secs)
        changes.add_metric([which], slot.changes)
    yield from (observed, down, changes)


def metrics_registry(recorder: Recorder, *, node_id: str, node_name: str) -> CollectorRegistry:
    """A registry of its own holding only the runtime collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(recorder, node_id=node_id, node_name=node_name))
    return registry


def register_metrics(app: QuartTrio, node: NodeHandle) -> None:
    """Serve `node`'s metrics at `/metrics`, from a registry of the app's own.

    Authentication is the app's: the admin token whenever one is set.
    """
    registry = metrics_registry(
        node.recorder, node_id=node.settings.node_id, node_name=node.settings.node_name
    )

    @app.get(METRICS_PATH)
    async def metrics() -> Response:
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encode(registry), status=200, content_type=content_type)
