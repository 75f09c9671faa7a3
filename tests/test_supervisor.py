"""Supervisors and the recorder in virtual time: probing, restart timing, persistence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import grpc
import httpx
import pytest
import trio
import trio.testing

from tests.agents import admin_client, make_cluster, start_agent
from tests.grpc_xray import running_xray_api
from xpagent.core import (
    SUPERVISED,
    Component,
    ComponentStatus,
    EventKind,
    NodeRuntime,
    ProbeResult,
    RestartResult,
    decode_state,
)
from xpagent.daemon._clock import TrioWallClock
from xpagent.daemon._hub import Hub
from xpagent.daemon._probes import PROBES, MetricsProbe, ProbeClients, XrayProbe, open_grpc_client
from xpagent.daemon._recorder import Recorder
from xpagent.daemon._restarters import SystemdRestarter
from xpagent.daemon._settings import CloudflaredMonitorMode, ComponentSettings, RestartMode
from xpagent.daemon._state_store import STATE_FILE_NAME
from xpagent.daemon._supervisor import Supervisor, keep_running, supervisors_for

ORIGIN = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@attrs.define
class SwitchableProbe:
    """An in-process probe that fails while `down` is set (timing tests need no I/O)."""

    down: bool = False
    calls: int = 0
    hang: bool = False

    async def probe(self) -> ProbeResult:
        self.calls += 1
        if self.hang:
            await trio.sleep_forever()
        return ProbeResult.failure("connection refused") if self.down else ProbeResult.success()


@attrs.define
class RecordingRestarter:
    """An in-process restarter that notes when it was asked, and can take its time."""

    how: str = "test"
    requested_at: list[float] = attrs.Factory(list)
    takes_secs: float = 0.0
    fails: bool = False

    async def restart(self) -> RestartResult:
        self.requested_at.append(trio.current_time())
        await trio.sleep(self.takes_secs)
        return RestartResult.failure("exit 1: nope") if self.fails else RestartResult.success()


def component_settings(**changes: Any) -> ComponentSettings:
    defaults = ComponentSettings(
        health_interval_secs=2,
        fails_before_down=3,
        restart_mode=RestartMode.COMMAND,
        restart_cooldown_secs=30,
        restart_timeout_secs=20,
        restart_backoff_max_secs=600,
        systemd_unit="xray.service",
        openrc_service="xray",
    )
    return attrs.evolve(defaults, **changes)


def make_recorder(tmp_path: Path) -> Recorder:
    clock = TrioWallClock(ORIGIN)
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    recorder = Recorder(
        runtime, path=tmp_path / STATE_FILE_NAME, hub=Hub(), clock=clock, write_in_thread=False
    )
    now = clock()
    recorder.apply(runtime.started(now, enabled={Component.XRAY}, previous=None), at=now)
    return recorder


async def test_restart_requests_follow_the_backoff_over_a_two_hour_outage(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """Down after three 2-s probes; restarts then, and 30, 60, 120, 240, 480, 600… s apart."""
    recorder = make_recorder(tmp_path)
    probe, restarter = SwitchableProbe(down=True), RecordingRestarter()
    supervisor = Supervisor(
        Component.XRAY, probe, restarter, component_settings(), recorder, probe_deadline_secs=1
    )
    start = trio.current_time()
    with trio.move_on_after(2 * 3600):
        await supervisor.run()
    offsets = [round(at - start, 3) for at in restarter.requested_at]
    down_at = 4  # probes at 0, 2, 4 fail
    gaps = [30, 60, 120, 240, 480] + [600] * 20
    expected = [down_at]
    for gap in gaps:
        if expected[-1] + gap >= 7200:
            break
        expected.append(expected[-1] + gap)
    assert offsets == expected
    state = recorder.runtime.component(Component.XRAY)
    assert state.restart_attempts == len(expected)
    assert not state.restart_in_flight


async def test_the_backoff_starts_over_after_recovery(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """After an up, the next outage's first restart comes as soon as it is down again."""
    recorder = make_recorder(tmp_path)
    probe, restarter = SwitchableProbe(down=True), RecordingRestarter()
    supervisor = Supervisor(
        Component.XRAY, probe, restarter, component_settings(), recorder, probe_deadline_secs=1
    )
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        # Switch between probes (they run at even seconds) so no tick races a switch.
        await trio.sleep(1001)  # requests at 4, 34, 94, 214, 454, 934
        probe.down = False
        await trio.sleep(100)
        probe.down = True
        await trio.sleep(200)
        nursery.cancel_scope.cancel()
    offsets = [round(at - start, 3) for at in restarter.requested_at]
    # Up again at the probe at 1002 s; down again after the probes at 1102, 1104, 1106.
    assert offsets == [4, 34, 94, 214, 454, 934, 1106, 1136, 1196]


async def test_a_restart_in_flight_is_never_doubled_and_a_slow_one_times_out(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """A restart that outlives its timeout fails with the timeout as its reason."""
    recorder = make_recorder(tmp_path)
    probe = SwitchableProbe(down=True)
    restarter = RecordingRestarter(takes_secs=10_000)
    settings = component_settings(
        restart_cooldown_secs=1, restart_backoff_max_secs=1, restart_timeout_secs=21
    )
    supervisor = Supervisor(Component.XRAY, probe, restarter, settings, recorder, 1)
    with trio.move_on_after(60):
        await supervisor.run()
    failures = [e for e in recorder.runtime.events if e.kind is EventKind.RESTART_FAILED]
    assert failures[-1].message == "xray restart failed: timed out after 21s"
    # Requested at 4 s, timed out at 25 s; the next probe (26 s) requests again, and so on.
    start = restarter.requested_at[0]
    assert [round(t - start) for t in restarter.requested_at] == [0, 22, 44]


async def test_a_probe_that_hangs_fails_at_its_deadline(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """A probe that does not answer is a failure with a readable reason."""
    recorder = make_recorder(tmp_path)
    probe = SwitchableProbe(hang=True)
    supervisor = Supervisor(Component.XRAY, probe, None, component_settings(), recorder, 1)
    with trio.move_on_after(5.5):  # probes at 0, 2 and 4 s, each timing out a second later
        await supervisor.run()
    state = recorder.runtime.component(Component.XRAY)
    assert state.status is ComponentStatus.DOWN
    assert state.last_error == "timed out after 1s"
    assert probe.calls == 3


async def test_restart_mode_none_only_watches(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """Without a restarter the component goes down and nothing is requested."""
    recorder = make_recorder(tmp_path)
    supervisor = Supervisor(
        Component.XRAY, SwitchableProbe(down=True), None, component_settings(), recorder, 1
    )
    with trio.move_on_after(3600):
        await supervisor.run()
    kinds = {e.kind for e in recorder.runtime.events}
    assert EventKind.RESTART_REQUESTED not in kinds
    assert recorder.runtime.component(Component.XRAY).status is ComponentStatus.DOWN


async def test_writes_follow_events_within_a_second_and_not_every_probe(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """An hour of quiet probing writes about once per slot; an event is on disk within 1 s."""
    recorder = make_recorder(tmp_path)
    probe = SwitchableProbe()
    supervisor = Supervisor(Component.XRAY, probe, None, component_settings(), recorder, 1)
    path = tmp_path / STATE_FILE_NAME
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        nursery.start_soon(supervisor.run)
        await trio.sleep(3600)
        # 1800 probes in the hour; writes: the start, xray's first up, then one every
        # five minutes (slot ends fall on those) — twelve, not eighteen hundred.
        assert recorder.writes <= 14

        probe.down = True
        with trio.fail_after(2 * 3 + 1):
            # A bounded poll of the file, in virtual time.
            while not path.exists() or not _xray_down_on_disk(path):  # noqa: ASYNC110
                await trio.sleep(0.1)
        went_down = recorder.runtime.component(Component.XRAY).down_since
        assert went_down is not None
        on_disk_by = recorder.now()
        assert (on_disk_by - went_down).total_seconds() <= 1.1
        nursery.cancel_scope.cancel()


def _xray_down_on_disk(path: Path) -> bool:
    state = decode_state(path.read_bytes())
    return state.last_snapshot.components[1].status is ComponentStatus.DOWN


async def test_a_crashing_supervisor_is_started_again_with_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A crash is logged and the task runs again after 1 s, 2 s, 4 s…, never giving up."""
    starts: list[float] = []

    async def crashes() -> None:
        starts.append(trio.current_time())
        raise RuntimeError("boom")

    begin = trio.current_time()
    with trio.move_on_after(20):
        await keep_running("test task", crashes)
    assert [round(t - begin) for t in starts] == [0, 1, 3, 7, 15]


@pytest.mark.parametrize("fails", [False, True])
async def test_restart_outcomes_are_recorded(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, fails: bool
) -> None:
    """A restart's outcome follows its request in the event log."""
    recorder = make_recorder(tmp_path)
    restarter = RecordingRestarter(fails=fails)
    supervisor = Supervisor(
        Component.XRAY, SwitchableProbe(down=True), restarter, component_settings(), recorder, 1
    )
    with trio.move_on_after(10):
        await supervisor.run()
    kinds = [e.kind for e in reversed(recorder.runtime.events)]
    outcome = EventKind.RESTART_FAILED if fails else EventKind.RESTART_SUCCEEDED
    assert kinds[-2:] == [EventKind.RESTART_REQUESTED, outcome]


async def test_supervisors_are_built_per_enabled_component_from_the_registry(
    tmp_path: Path,
) -> None:
    """Each enabled component gets its registered probe, the restarter of its restart
    mode and a probe deadline no longer than its interval; a disabled one gets none."""
    assert set(PROBES) == set(SUPERVISED)
    xray = component_settings(restart_mode=RestartMode.SYSTEMD, api_addr="127.0.0.1:10085")
    cloudflared = component_settings(
        health_interval_secs=2,
        restart_mode=RestartMode.NONE,
        systemd_unit="cloudflared.service",
        monitor_mode=CloudflaredMonitorMode.NONE,
    )
    recorder = make_recorder(tmp_path)
    async with open_grpc_client() as grpc, httpx.AsyncClient() as http:
        clients = ProbeClients(http=http, grpc=grpc)
        components = {Component.XRAY: xray, Component.CLOUDFLARED: cloudflared}
        (only,) = supervisors_for(components, recorder=recorder, clients=clients)
        assert (only.component, only.probe) == (Component.XRAY, XrayProbe(grpc, "127.0.0.1:10085"))
        assert only.restarter == SystemdRestarter("xray.service")
        assert only.probe_deadline_secs == 1.0

        metrics = attrs.evolve(
            cloudflared,
            monitor_mode=CloudflaredMonitorMode.METRICS,
            metrics_url="http://127.0.0.1:20241",
        )
        components[Component.CLOUDFLARED] = metrics
        _, tunnel = supervisors_for(components, recorder=recorder, clients=clients)
        assert (tunnel.component, tunnel.restarter) == (Component.CLOUDFLARED, None)
        assert tunnel.probe == MetricsProbe(http, "http://127.0.0.1:20241")
        assert tunnel.probe_deadline_secs == 2.0


async def test_a_recovering_component_is_up_after_its_successes_and_not_restarted_meanwhile(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """With XP_*_HEALTH_SUCCESSES_BEFORE_UP = 3 the supervisor keeps a component down for
    two passing probes and requests no restart while they pass."""
    recorder = make_recorder(tmp_path)
    probe, restarter = SwitchableProbe(down=True), RecordingRestarter()
    settings = component_settings(successes_before_up=3, restart_cooldown_secs=1)
    supervisor = Supervisor(Component.XRAY, probe, restarter, settings, recorder, 1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        await trio.sleep(5)  # down at the probe at 4 s, restarted at once
        assert restarter.requested_at == [4]
        probe.down = False
        seen = []
        for _ in range(3):  # probes at 6, 8 and 10 s
            await trio.sleep(2)
            state = recorder.runtime.component(Component.XRAY)
            seen.append((state.status, state.recovering and state.recovering.successes))
        nursery.cancel_scope.cancel()
    assert seen == [
        (ComponentStatus.DOWN, 1),
        (ComponentStatus.DOWN, 2),
        (ComponentStatus.UP, None),
    ]
    # Its backoff would have allowed one at 5 s and 7 s: recovering holds them.
    assert restarter.requested_at == [4]
    up = next(e for e in recorder.runtime.events if e.status_to is ComponentStatus.UP)
    assert up.occurred_at == ORIGIN + timedelta(seconds=10)


async def wait_for_xray(
    client: httpx.AsyncClient, accept: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Bounded poll of the node's detail until its xray component satisfies `accept`."""
    with trio.fail_after(10):
        while True:
            detail = (await client.get("/api/admin/nodes/a/runtime?events_limit=0")).json()
            xray: dict[str, Any] = detail["components"][1]
            if accept(xray):
                return xray
            await trio.sleep(0.05)


@pytest.mark.slow
async def test_a_real_agent_reports_recovery_until_its_successes_pass(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A real agent with XP_XRAY_HEALTH_SUCCESSES_BEFORE_UP=3 keeps xray down while its
    API answers again, says `recovering` 1 then 2 of 3 on the API, and is up at the third."""
    with running_xray_api() as xray:
        cluster = make_cluster(tmp_path, ["a"], xray_addr=xray.addr)
        settings = cluster.settings(
            "a",
            XP_XRAY_HEALTH_FAILS_BEFORE_DOWN="1",
            XP_XRAY_HEALTH_SUCCESSES_BEFORE_UP="3",
        )
        await start_agent(nursery, settings)
        async with admin_client(cluster.url("a")) as client:
            await wait_for_xray(client, lambda c: c["status"] == "up")
            xray.abort_with = grpc.StatusCode.UNAVAILABLE
            down = await wait_for_xray(client, lambda c: c["status"] == "down")
            assert "recovering" not in down
            xray.abort_with = None
            seen = [down.get("recovering")]
            with trio.fail_after(10):
                while True:
                    component = await wait_for_xray(
                        client, lambda c: c.get("recovering") != seen[-1] or c["status"] == "up"
                    )
                    if component["status"] == "up":
                        break
                    assert component["status"] == "down"
                    seen.append(component["recovering"])
            events = (await client.get("/api/admin/nodes/a/runtime")).json()["events"]
    assert seen == [None, {"successes": 1, "needed": 3}, {"successes": 2, "needed": 3}]
    assert "recovering" not in component
    changes = [e["message"] for e in events if e["component"] == "xray"]
    assert changes[0] == "xray status changed: down -> up"
    # Recovering records no events: the status did not change while it passed.
    assert changes[1].startswith("xray status changed: up -> down")
