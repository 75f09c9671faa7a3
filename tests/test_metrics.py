"""`GET /metrics` (CONTRACT §6): parsed by prometheus_client's own parsers, guarded by
the admin token, and equal to the runtime detail taken at the same moment."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics_exposition
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from tests.agents import TOKEN, Cluster, admin_client, make_cluster, start_agent
from tests.grpc_xray import FakeXrayApi, running_xray_api
from tests.test_supervisor import component_settings
from xpagent.api._metrics import FAMILIES, metrics_registry
from xpagent.core import Component, NodeRuntime, ProbeResult, RestartResult
from xpagent.daemon import STATE_FILE_NAME, Hub, Recorder, StateStoreError, Supervisor
from xpagent.daemon._clock import TrioWallClock

ORIGIN = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
OPENMETRICS = "application/openmetrics-text; version=1.0.0"

#: A sample by name and labels, e.g. `("xpagent_component_status", {"component": …})`.
Key = tuple[str, frozenset[tuple[str, str]]]


def parse_openmetrics(text: str) -> list[Metric]:
    """prometheus_client's OpenMetrics parser (untyped: the annotation is ours)."""
    families: list[Metric] = list(
        openmetrics_parser.text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
    )
    return families


def samples(families: Iterable[Metric]) -> dict[Key, float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families
        for sample in family.samples
    }


def value(parsed: dict[Key, float], name: str, **labels: str) -> float:
    return parsed[name, frozenset(labels.items())]


@pytest.fixture
def xray() -> Iterator[FakeXrayApi]:
    with running_xray_api() as api:
        yield api


@pytest.fixture
def cluster(tmp_path: Path, xray: FakeXrayApi) -> Cluster:
    return make_cluster(tmp_path, ["a"], xray_addr=xray.addr)


async def scrape(client: httpx.AsyncClient) -> dict[Key, float]:
    answer = await client.get("/metrics", headers={"Accept": OPENMETRICS})
    assert answer.status_code == 200
    return samples(parse_openmetrics(answer.text))


async def detail_of(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/api/admin/nodes/a/runtime?events_limit=1000")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


async def wait_for(client: httpx.AsyncClient, done: Any) -> dict[str, Any]:
    """Bounded poll of the detail until `done(detail)`."""
    with trio.fail_after(10):
        while True:
            detail = await detail_of(client)
            if done(detail):
                return detail
            await trio.sleep(0.05)


AGES = "xpagent_component_status_age_seconds"


async def scrape_with_detail(client: httpx.AsyncClient) -> tuple[dict[Key, float], dict[str, Any]]:
    """A scrape and the detail of the same runtime: scrape, detail, scrape again,
    until nothing but the running ages moved between the two scrapes."""
    with trio.fail_after(10):
        while True:
            before = await scrape(client)
            detail = await detail_of(client)
            after = await scrape(client)
            if {k: v for k, v in before.items() if k[0] != AGES} == {
                k: v for k, v in after.items() if k[0] != AGES
            }:
                return after, detail


def assert_matches(parsed: dict[Key, float], detail: dict[str, Any]) -> None:
    """Every value the scrape shares with the detail is the detail's."""
    for state in detail["components"]:
        name = state["component"]
        for status in ("disabled", "up", "down", "unknown"):
            labels = {"component": name, "xpagent_component_status": status}
            shown = value(parsed, "xpagent_component_status", **labels)
            assert shown == (1 if state["status"] == status else 0), (name, status)
        failures = value(parsed, "xpagent_component_consecutive_failures", component=name)
        assert failures == state["consecutive_failures"]
    previous, current = detail["recent_slots"][-2:]
    for which, slot in (("previous", previous), ("current", current)):
        assert value(parsed, "xpagent_slot_observed_seconds", slot=which) == slot["observed_secs"]
        assert value(parsed, "xpagent_slot_down_seconds", slot=which) == slot["down_secs"]
        assert value(parsed, "xpagent_slot_status_changes", slot=which) == slot["changes"]
    # The agent's data directory is fresh: every event since its start is in the log.
    kinds = Counter((event["component"], event["kind"]) for event in detail["events"])
    for name in ("xray", "cloudflared"):
        requests = value(parsed, "xpagent_component_restart_requests_total", component=name)
        assert requests == kinds[name, "restart_requested"]
        for outcome in ("succeeded", "failed"):
            ended = value(
                parsed, "xpagent_component_restart_outcomes_total", component=name, outcome=outcome
            )
            assert ended == kinds[name, f"restart_{outcome}"]
    (started,) = [e for e in detail["events"] if e["component"] == "xp"]
    start = datetime.fromisoformat(started["occurred_at"]).timestamp()
    assert value(parsed, "xpagent_start_time_seconds") == pytest.approx(start, abs=0.001)


async def test_metrics_parse_in_both_formats_and_carry_the_documented_families(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """The classic text format by default, OpenMetrics when asked for; both parse with
    prometheus_client's parsers, carry every documented family and match the detail."""
    await start_agent(nursery, cluster.settings("a"))
    async with admin_client(cluster.url("a")) as client:
        await wait_for(client, lambda d: d["summary"] == "up")

        classic = await client.get("/metrics")
        assert classic.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        names = {family.name for family in parse_prometheus(classic.text)}
        # The classic format has no info type and no created timestamps: the parser
        # names those families by their samples.
        classic_names = {"xpagent_node_info" if n == "xpagent_node" else n for n in FAMILIES}
        assert classic_names <= names

        answer = await client.get("/metrics", headers={"Accept": OPENMETRICS})
        assert answer.headers["content-type"].startswith("application/openmetrics-text")
        families = {family.name: family for family in parse_openmetrics(answer.text)}
        assert set(families) == set(FAMILIES)
        assert families["xpagent_component_status"].type == "stateset"
        assert families["xpagent_component_restart_requests"].type == "counter"
        assert families["xpagent_node"].samples[0].labels["node_id"] == "a"

        parsed, detail = await scrape_with_detail(client)
        assert_matches(parsed, detail)
        assert value(parsed, "xpagent_state_file_write_failures_total") == 0
        probe_secs = value(parsed, "xpagent_component_probe_duration_seconds", component="xray")
        assert 0 < probe_secs < 1
        start = value(parsed, "xpagent_start_time_seconds")
        assert value(parsed, "xpagent_state_file_write_failures_created") == start


async def test_metrics_need_the_token_when_one_is_set(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """Without the right bearer token a scrape is a 401 in the contract's JSON shape."""
    await start_agent(nursery, cluster.settings("a"))
    async with httpx.AsyncClient(base_url=cluster.url("a")) as client:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
            answer = await client.get("/metrics", headers=headers)
            assert answer.status_code == 401
            assert answer.json()["error"]["code"] == "unauthorized"
            assert TOKEN not in answer.text
        answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200


async def test_metrics_are_open_on_loopback_without_a_token(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """An agent bound to loopback with no token set serves `/metrics` to anyone there."""
    await start_agent(nursery, cluster.settings("a", XP_ADMIN_TOKEN=""))
    async with httpx.AsyncClient(base_url=cluster.url("a")) as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert "xpagent_component_status" in answer.text


@pytest.mark.slow
async def test_metrics_match_the_detail_while_xray_is_down_and_restarts_fail(
    nursery: trio.Nursery, cluster: Cluster, xray: FakeXrayApi
) -> None:
    """With xray stopped and its restart command failing, the scrape shows it down, its
    failures, the restarts requested and failed, the slot's down time and how long it
    has been down — exactly as the detail of the same moment does."""
    settings = cluster.settings(
        "a",
        XP_XRAY_HEALTH_FAILS_BEFORE_DOWN="1",
        XP_XRAY_RESTART_MODE="command",
        XP_XRAY_RESTART_COMMAND="false",
        XP_XRAY_RESTART_COOLDOWN_SECS="1",
    )
    await start_agent(nursery, settings)
    async with admin_client(cluster.url("a")) as client:
        await wait_for(client, lambda d: d["summary"] == "up")
        xray.stop()
        await wait_for(
            client,
            lambda d: (
                any(e["kind"] == "restart_failed" for e in d["events"])
                and d["components"][1]["consecutive_failures"] >= 2
            ),
        )
        parsed, detail = await scrape_with_detail(client)
        scraped_at = datetime.now(UTC)

    assert_matches(parsed, detail)
    xray_state = detail["components"][1]
    assert xray_state["status"] == "down"
    assert (
        value(
            parsed, "xpagent_component_restart_outcomes_total", component="xray", outcome="failed"
        )
        >= 1
    )
    down_for = (scraped_at - datetime.fromisoformat(xray_state["down_since"])).total_seconds()
    age = value(parsed, AGES, component="xray")
    assert down_for - 1 < age <= down_for + 0.01
    assert value(parsed, "xpagent_slot_down_seconds", slot="current") > 0


# -- the recorder's totals, in virtual time ----------------------------------------


def make_recorder(path: Path) -> Recorder:
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    recorder = Recorder(
        runtime, path=path, hub=Hub(), clock=TrioWallClock(ORIGIN), write_in_thread=False
    )
    recorder.record_start(enabled={Component.XRAY}, previous=None)
    return recorder


def collected(recorder: Recorder) -> dict[Key, float]:
    registry = metrics_registry(recorder, node_id="node-a", node_name="Node A")
    text: bytes = openmetrics_exposition.generate_latest(registry)  # type: ignore[no-untyped-call]
    return samples(parse_openmetrics(text.decode()))


async def test_restarts_and_status_changes_are_counted_as_they_are_applied(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """Restart requests and outcomes count up from the start (their `_created`); a
    status's age is the time since its change, in exact virtual seconds."""
    recorder = make_recorder(tmp_path / STATE_FILE_NAME)
    await trio.sleep(5)
    recorder.record_probe(
        Component.XRAY, ProbeResult.failure("connection refused"), fails_before_down=1
    )
    for result in (RestartResult.failure("exit 1"), RestartResult.success()):
        recorder.record_restart_requested(Component.XRAY, how="test")
        recorder.record_restart_finished(Component.XRAY, result)
    await trio.sleep(7)

    parsed = collected(recorder)
    start = ORIGIN.timestamp()
    assert value(parsed, "xpagent_start_time_seconds") == start
    assert value(parsed, AGES, component="xray") == 7
    assert value(parsed, AGES, component="xp") == 12
    assert value(parsed, "xpagent_component_restart_requests_total", component="xray") == 2
    assert value(parsed, "xpagent_component_restart_requests_created", component="xray") == start
    for outcome in ("succeeded", "failed"):
        labels = {"component": "xray", "outcome": outcome}
        assert value(parsed, "xpagent_component_restart_outcomes_total", **labels) == 1
    assert value(parsed, "xpagent_component_restart_requests_total", component="cloudflared") == 0
    down = {"component": "xray", "xpagent_component_status": "down"}
    assert value(parsed, "xpagent_component_status", **down) == 1


async def test_failed_state_file_writes_are_counted(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """Every write the disk refuses counts once; a write that succeeds counts nothing."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    recorder = make_recorder(data_dir / STATE_FILE_NAME)
    await recorder.write_now()
    (data_dir / STATE_FILE_NAME).unlink()
    data_dir.rmdir()
    for _ in range(2):
        with pytest.raises(StateStoreError):
            await recorder.write_now()
    assert value(collected(recorder), "xpagent_state_file_write_failures_total") == 2


@attrs.define
class SlowProbe:
    """A probe that takes `secs` of (virtual) time to answer."""

    secs: float

    async def probe(self) -> ProbeResult:
        await trio.sleep(self.secs)
        return ProbeResult.success()


def test_the_ops_guide_documents_exactly_the_families_served() -> None:
    """docs/ops.md's table names every family a scrape carries (as sample names), and
    no other."""
    ops = (Path(__file__).parents[1] / "docs" / "ops.md").read_text()
    documented = set(re.findall(r"^\| `(xpagent_\w+)` \|", ops, re.MULTILINE))
    counters = (
        "xpagent_component_restart_requests",
        "xpagent_component_restart_outcomes",
        "xpagent_state_file_write_failures",
    )
    suffix = {"xpagent_node": "_info", **dict.fromkeys(counters, "_total")}
    assert documented == {name + suffix.get(name, "") for name in FAMILIES}


async def test_the_supervisor_measures_each_probe(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The probe duration is the latest probe's, measured around it by the supervisor."""
    recorder = make_recorder(tmp_path / STATE_FILE_NAME)
    probe = SlowProbe(0.25)
    supervisor = Supervisor(
        Component.XRAY, probe, None, component_settings(), recorder, probe_deadline_secs=1
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        await trio.sleep(1)
        assert recorder.totals.probe_secs == {Component.XRAY: 0.25}
        probe.secs = 0.5
        await trio.sleep(2)
        nursery.cancel_scope.cancel()
    parsed = collected(recorder)
    assert value(parsed, "xpagent_component_probe_duration_seconds", component="xray") == 0.5
