"""xray's data-plane probe (CONTRACT §6): a request made through xray, not only its API.

The first tests drive the probe's parts in virtual time with in-process stand-ins.
The others send real requests through Debian's `v2ray` (xray's predecessor, the same
SOCKS5 and HTTP inbounds) with a config written for the test: a SOCKS5 and an HTTP
inbound on loopback and a `freedom` outbound, forwarding to a hypercorn target on
loopback. Every address is 127.0.0.1: nothing leaves the machine.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import grpc
import httpx
import pytest
import trio
import trio.testing

from tests.grpc_xray import running_xray_api, serve_silent_tcp
from tests.servers import free_port, serve_asgi
from tests.test_supervisor import (
    RecordingRestarter,
    SwitchableProbe,
    component_settings,
    make_recorder,
)
from xpagent.agent import run_agent
from xpagent.core import Component, ComponentStatus, Event, EventKind, NodeRuntime, ProbeResult
from xpagent.daemon import Settings, load_settings
from xpagent.daemon._probes import (
    DataPlaneGatedProbe,
    DataPlaneProbe,
    DataPlaneWatch,
    ProbeClients,
    build_xray_probe,
    open_data_plane,
    open_data_plane_client,
    open_grpc_client,
)
from xpagent.daemon._recorder import Recorder
from xpagent.daemon._supervisor import Supervisor

# -- the parts, in virtual time ---------------------------------------------------


@attrs.define
class ScriptedProbe:
    """An in-process probe answering `answer`, taking `takes_secs`; notes when it ran."""

    answer: ProbeResult = attrs.Factory(ProbeResult.success)
    takes_secs: float = 0.0
    started_at: list[float] = attrs.Factory(list)

    async def probe(self) -> ProbeResult:
        self.started_at.append(trio.current_time())
        await trio.sleep(self.takes_secs)
        return self.answer


def watch(answer: ProbeResult, *, takes_secs: float = 0.0) -> DataPlaneWatch:
    return DataPlaneWatch(ScriptedProbe(answer, takes_secs), interval_secs=30, retry_secs=2)


async def answered(data_plane: DataPlaneWatch) -> DataPlaneWatch:
    data_plane.latest = await data_plane.probe_once()
    return data_plane


async def test_xray_is_up_only_when_its_api_and_its_data_plane_answer() -> None:
    """API and data plane up: up. Data plane failing: failed, the reason naming it.
    API failing: failed with the API's reason, whatever the data plane says."""
    up, refused = ProbeResult.success(), ProbeResult.failure("proxy refused")
    both = DataPlaneGatedProbe(ScriptedProbe(), await answered(watch(up)), False)
    assert await both.probe() == up
    data_down = DataPlaneGatedProbe(ScriptedProbe(), await answered(watch(refused)), False)
    result = await data_down.probe()
    assert (result.ok, result.reason) == (False, "data plane: proxy refused")
    api_down = ScriptedProbe(ProbeResult.failure("connection refused"))
    for data_plane in (watch(up), watch(refused)):
        result = await DataPlaneGatedProbe(api_down, await answered(data_plane), False).probe()
        assert result == ProbeResult.failure("connection refused")
        assert result.calls_for_restart


@pytest.mark.parametrize("restart", [False, True])
async def test_a_data_plane_failure_calls_for_a_restart_only_when_enabled(restart: bool) -> None:
    """XP_XRAY_DATAPLANE_RESTART decides whether a data-plane failure alone calls for
    a restart."""
    data_plane = await answered(watch(ProbeResult.failure("HTTP 503")))
    result = await DataPlaneGatedProbe(ScriptedProbe(), data_plane, restart).probe()
    assert result.reason == "data plane: HTTP 503"
    assert result.calls_for_restart is restart


async def test_xray_waits_for_the_data_planes_first_answer_within_its_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Before the data plane has answered, xray's probe waits for that answer; when
    its deadline comes first, it fails saying so rather than by the deadline."""
    quick = watch(ProbeResult.success(), takes_secs=0.3)
    slow = watch(ProbeResult.success(), takes_secs=5)
    async with trio.open_nursery() as nursery:
        for data_plane in (quick, slow):
            nursery.start_soon(data_plane.run)
        start = trio.current_time()
        with trio.move_on_after(1):
            assert await DataPlaneGatedProbe(ScriptedProbe(), quick, False).probe() == (
                ProbeResult.success()
            )
        assert trio.current_time() - start == pytest.approx(0.3)
        start = trio.current_time()
        with trio.move_on_after(1):
            result = await DataPlaneGatedProbe(ScriptedProbe(), slow, False).probe()
        assert result.reason == "data plane: no answer yet"
        assert trio.current_time() - start == pytest.approx(0.9)
        nursery.cancel_scope.cancel()


async def test_the_data_plane_is_asked_at_its_interval_and_soon_again_after_a_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every 30 s while it passes; 2 s (xray's health interval) after a failure ends;
    a probe overrunning its 5 s deadline fails with `timed out after 5s`."""
    probe = ScriptedProbe(takes_secs=0.5)
    data_plane = DataPlaneWatch(probe, interval_secs=30, retry_secs=2)
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(data_plane.run)
        await trio.sleep(61)  # passes at 0, 30, 60
        probe.answer = ProbeResult.failure("HTTP 503")
        await trio.sleep(35)  # fails at 90.5, then 2 s after each end: 92.5, 95
        probe.takes_secs = 3600
        await trio.sleep(10)  # starts at 97.5, times out at 102.5; again at 104.5
        assert data_plane.latest == ProbeResult.failure("timed out after 5s")
        nursery.cancel_scope.cancel()
    offsets = [round(at - start, 3) for at in probe.started_at]
    assert offsets == [0, 30, 60, 90, 92.5, 95, 97.5, 104.5]


@attrs.define
class SupervisedXray:
    """xray's supervisor (2-s probes, 3 failures before down, 30-s cooldown) over an
    in-process API and a data plane whose every answer is `data_plane_failure`."""

    tmp_path: Path
    data_plane_failure: str
    restart_on_failure: bool
    api: SwitchableProbe = attrs.Factory(SwitchableProbe)
    restarter: RecordingRestarter = attrs.Factory(RecordingRestarter)
    recorder: Recorder = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.recorder = make_recorder(self.tmp_path)

    async def start(self, nursery: trio.Nursery) -> float:
        """Start the data plane's watch and the supervisor; the time the first probe runs."""
        data_plane = watch(ProbeResult.failure(self.data_plane_failure))
        probe = DataPlaneGatedProbe(self.api, data_plane, self.restart_on_failure)
        supervisor = Supervisor(
            Component.XRAY, probe, self.restarter, component_settings(), self.recorder, 1
        )
        await nursery.start(data_plane.run)
        nursery.start_soon(supervisor.run)
        return trio.current_time()

    def restarts_since(self, start: float) -> list[float]:
        return [round(at - start, 3) for at in self.restarter.requested_at]


async def test_a_data_plane_failure_alone_requests_no_restart_by_default(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """xray goes down with the data plane's reason and no restart is requested; a
    failing API then requests one at once."""
    xray = SupervisedXray(tmp_path, "proxy refused", restart_on_failure=False)
    async with trio.open_nursery() as nursery:
        start = await xray.start(nursery)
        # Switch between probes (they run at even seconds) so no tick races a switch.
        await trio.sleep(599)
        state = xray.recorder.runtime.component(Component.XRAY)
        assert state.status is ComponentStatus.DOWN
        assert state.last_error == "data plane: proxy refused"
        assert xray.restarts_since(start) == []
        xray.api.down = True
        await trio.sleep(2)  # the next probe, at 600 s
        nursery.cancel_scope.cancel()
    assert xray.restarts_since(start) == [600]


async def test_with_restart_enabled_a_data_plane_failure_requests_restarts(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """With XP_XRAY_DATAPLANE_RESTART=true a data-plane outage is restarted like any
    other: when xray is down (third failed probe, 4 s), then after the cooldown."""
    xray = SupervisedXray(tmp_path, "HTTP 503", restart_on_failure=True)
    async with trio.open_nursery() as nursery:
        start = await xray.start(nursery)
        await trio.sleep(60)
        nursery.cancel_scope.cancel()
    assert xray.restarts_since(start) == [4, 34]


async def test_xrays_probe_includes_the_data_plane_exactly_when_it_is_configured() -> None:
    """Without XP_XRAY_DATAPLANE_PROXY xray's probe is its API probe alone; with it,
    the API and the data plane, which `open_data_plane` provides."""
    plain = component_settings(api_addr="127.0.0.1:10085")
    on = attrs.evolve(
        plain,
        dataplane_proxy="socks5://127.0.0.1:10808",
        dataplane_url="http://127.0.0.1:8080/generate_204",
        dataplane_restart=True,
    )
    async with (
        httpx.AsyncClient() as http_client,
        open_grpc_client() as grpc_client,
        open_data_plane(plain) as none,
    ):
        assert none is None
        clients = ProbeClients(http=http_client, grpc=grpc_client)
        assert not isinstance(build_xray_probe(plain, clients), DataPlaneGatedProbe)
        with pytest.raises(ValueError, match="no DataPlaneWatch"):
            build_xray_probe(on, clients)
        async with open_data_plane(on) as data_plane:
            assert data_plane is not None
            assert (data_plane.interval_secs, data_plane.retry_secs) == (30, 2)
            gated = build_xray_probe(on, attrs.evolve(clients, data_plane=data_plane))
            assert isinstance(gated, DataPlaneGatedProbe)
            assert gated.restart_on_failure


# -- through a real proxy -----------------------------------------------------------


@attrs.define
class Target:
    """A loopback HTTP server answering every request with `status`."""

    status: int = 204
    requests: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.requests += 1
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@attrs.frozen
class Proxy:
    """A running v2ray: its SOCKS5 and HTTP inbounds as `XP_XRAY_DATAPLANE_PROXY` URLs."""

    socks: str
    http: str


def _v2ray_command(config: Path) -> list[str]:
    """How to start Debian's v2ray 4 (or xray) with `config`; skips when neither is here."""
    if found := shutil.which("xray"):
        return [found, "run", "-c", str(config)]
    if found := shutil.which("v2ray"):
        return [found, "-config", str(config)]
    pytest.skip("needs Debian's v2ray (apt-get install v2ray) or xray on PATH")


async def _wait_listening(port: int, process: trio.Process, log: Path) -> None:
    """A bounded poll (under the caller's deadline) until `port` accepts connections."""
    while True:
        if process.poll() is not None:
            output = await trio.Path(log).read_text()
            pytest.fail(f"v2ray exited with {process.returncode}: {output[-2000:]}")
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            await trio.sleep(0.02)
        else:
            await stream.aclose()
            return


@asynccontextmanager
async def running_v2ray(directory: Path) -> AsyncIterator[Proxy]:
    """v2ray with a SOCKS5 and an HTTP inbound on loopback and a `freedom` outbound."""
    socks_port, http_port = free_port(), free_port()
    config = {
        "log": {"loglevel": "warning"},
        "inbounds": [
            {
                "tag": "health-socks",
                "listen": "127.0.0.1",
                "port": socks_port,
                "protocol": "socks",
                "settings": {"auth": "noauth", "udp": False},
            },
            {"tag": "health-http", "listen": "127.0.0.1", "port": http_port, "protocol": "http"},
        ],
        "outbounds": [{"protocol": "freedom", "settings": {}}],
    }
    path = directory / "v2ray.json"
    path.write_text(json.dumps(config))
    log = directory / "v2ray.log"
    with log.open("wb") as output:
        process = await trio.lowlevel.open_process(
            _v2ray_command(path), stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )
    try:
        with trio.fail_after(10):
            await _wait_listening(socks_port, process, log)
            await _wait_listening(http_port, process, log)
        yield Proxy(f"socks5://127.0.0.1:{socks_port}", f"http://127.0.0.1:{http_port}")
    finally:
        process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


async def probe_through(proxy: str, url: str) -> ProbeResult:
    """One data-plane probe through `proxy`, under its deadline, as the agent asks it."""
    async with open_data_plane_client(proxy) as client:
        with trio.fail_after(10):
            return await DataPlaneWatch(DataPlaneProbe(client, url), 30, 2).probe_once()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["socks", "http"])
async def test_requests_through_v2ray_reach_the_target_and_its_answer_decides(
    tmp_path: Path, kind: str
) -> None:
    """Through either inbound: 204 passes (the target is really reached); 503 fails
    with `HTTP 503`."""
    target = Target()
    async with trio.open_nursery() as nursery, running_v2ray(tmp_path) as v2ray:
        url = await nursery.start(serve_asgi, target)
        proxy = getattr(v2ray, kind)
        assert await probe_through(proxy, f"{url}/generate_204") == ProbeResult.success()
        assert target.requests == 1
        target.status = 503
        assert await probe_through(proxy, url) == ProbeResult.failure("HTTP 503")
        nursery.cancel_scope.cancel()


@pytest.mark.slow
async def test_a_target_refusing_fails_with_what_the_proxy_says(tmp_path: Path) -> None:
    """v2ray's SOCKS inbound accepts, then closes when the target refuses; its HTTP
    inbound answers 503 itself. Neither is taken for the proxy refusing."""
    refusing = f"http://127.0.0.1:{free_port()}/generate_204"
    async with running_v2ray(tmp_path) as v2ray:
        assert await probe_through(v2ray.socks, refusing) == ProbeResult.failure(
            "connection closed without an answer"
        )
        assert await probe_through(v2ray.http, refusing) == ProbeResult.failure("HTTP 503")


@pytest.mark.parametrize("scheme", ["socks5", "http"])
async def test_a_closed_proxy_port_is_proxy_refused(scheme: str) -> None:
    """Nothing listening on the inbound's port: `proxy refused`."""
    proxy = f"{scheme}://127.0.0.1:{free_port()}"
    result = await probe_through(proxy, "http://127.0.0.1:9/generate_204")
    assert result == ProbeResult.failure("proxy refused")


# httpcore does not close the connection to a SOCKS proxy when the handshake is
# cancelled; CPython closes the socket when it is collected, with a ResourceWarning.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.parametrize("scheme", ["socks5", "http"])
async def test_a_black_holing_proxy_times_out_after_5s(
    autojump_clock: trio.testing.MockClock, scheme: str
) -> None:
    """An inbound that accepts and never answers: `timed out after 5s`, at 5 s."""
    async with trio.open_nursery() as nursery:
        silent = await nursery.start(serve_silent_tcp)
        start = trio.current_time()
        result = await probe_through(f"{scheme}://{silent}", "http://127.0.0.1:9/")
        assert result == ProbeResult.failure("timed out after 5s")
        assert trio.current_time() - start == pytest.approx(5)
        nursery.cancel_scope.cancel()


# -- a real agent ----------------------------------------------------------------


def agent_settings(tmp_path: Path, xray_addr: str, proxy: str, url: str, **env: str) -> Settings:
    values = {
        "XP_BIND": f"127.0.0.1:{free_port()}",
        "XP_DATA_DIR": str(tmp_path / "data"),
        "XP_XRAY_API_ADDR": xray_addr,
        "XP_XRAY_HEALTH_INTERVAL_SECS": "1",
        "XP_XRAY_HEALTH_FAILS_BEFORE_DOWN": "2",
        "XP_XRAY_RESTART_MODE": "command",
        "XP_XRAY_RESTART_COMMAND": shutil.which("true") or "true",
        "XP_XRAY_RESTART_COOLDOWN_SECS": "1",
        "XP_XRAY_RESTART_BACKOFF_MAX_SECS": "1",
        "XP_XRAY_DATAPLANE_PROXY": proxy,
        "XP_XRAY_DATAPLANE_URL": url,
        "XP_XRAY_DATAPLANE_INTERVAL_SECS": "1",
        **env,
    }
    return load_settings({}, values, host_name="test-host").settings


async def wait_until(condition: Callable[[], bool]) -> None:
    """A bounded poll (under the caller's deadline) of the agent's runtime."""
    while not condition():  # noqa: ASYNC110
        await trio.sleep(0.05)


def events_of(runtime: NodeRuntime, kind: EventKind) -> list[Event]:
    return [
        event
        for event in runtime.events
        if event.component is Component.XRAY and event.kind is kind
    ]


@pytest.mark.slow
@pytest.mark.parametrize("restart", [False, True])
async def test_an_agent_shows_xray_down_with_the_data_planes_reason_and_restarts_as_set(
    tmp_path: Path, restart: bool
) -> None:
    """A real agent, xray's API answering and v2ray forwarding to a target: up. The
    target answering 503: down (`data plane: HTTP 503`), and a restart requested only
    with XP_XRAY_DATAPLANE_RESTART=true; otherwise the first restart comes when the
    API fails too."""
    target = Target()
    async with trio.open_nursery() as nursery, running_v2ray(tmp_path) as v2ray:
        url = await nursery.start(serve_asgi, target)
        with running_xray_api() as xray_api:
            settings = agent_settings(
                tmp_path,
                xray_api.addr,
                v2ray.socks,
                f"{url}/generate_204",
                XP_XRAY_DATAPLANE_RESTART=str(restart).lower(),
            )
            handle = await nursery.start(functools.partial(run_agent, settings))
            recorder = handle.node.recorder

            def xray() -> Any:
                return recorder.runtime.component(Component.XRAY)

            with trio.fail_after(15):
                await wait_until(lambda: xray().status is ComponentStatus.UP)
                target.status = 503
                await wait_until(lambda: xray().status is ComponentStatus.DOWN)
                (down,) = [
                    e
                    for e in events_of(recorder.runtime, EventKind.STATUS_CHANGED)
                    if e.status_to is ComponentStatus.DOWN
                ]
                assert down.message == ("xray status changed: up -> down (data plane: HTTP 503)")
                # Two more failed probes, each a chance to request a restart.
                failures = xray().consecutive_failures
                await wait_until(lambda: xray().consecutive_failures >= failures + 2)
                requested = events_of(recorder.runtime, EventKind.RESTART_REQUESTED)
                assert bool(requested) is restart
                if not restart:
                    xray_api.abort_with = grpc.StatusCode.UNAVAILABLE
                    await wait_until(
                        lambda: bool(events_of(recorder.runtime, EventKind.RESTART_REQUESTED))
                    )
                    assert xray().last_error == "grpc UNAVAILABLE"
            nursery.cancel_scope.cancel()
