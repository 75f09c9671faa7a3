"""Probes against real servers and programs: xray's gRPC API, cloudflared's /ready, fakes."""

from __future__ import annotations

import errno
import itertools
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import grpc
import httpx
import pytest
import trio

from tests.conftest import FakePrograms
from tests.grpc_xray import (
    FakeXrayApi,
    parse_get_stats_request,
    running_xray_api,
    serve_silent_tcp,
)
from tests.servers import free_port, serve_asgi
from xpagent.core import ProbeResult
from xpagent.daemon._probes import (
    PROBE_COUNTER_NAME,
    CommandProbe,
    MetricsProbe,
    XrayProbe,
    build_cloudflared_probe,
    get_stats_request,
    open_grpc_client,
    openrc_probe,
    systemd_probe,
)
from xpagent.daemon._settings import CloudflaredMonitorMode, ComponentSettings, RestartMode
from xpagent.daemon._transport_errors import describe_transport_error
from xpagent.demo._asgi import serve_lifespan

# --- servers -------------------------------------------------------------------------


@attrs.define
class TinyHttpApp:
    """A bare ASGI app answering every request with `status` and `content_type`."""

    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    paths: list[str] = attrs.Factory(list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        self.paths.append(scope["path"])
        while (await receive()).get("more_body", False):
            pass
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", self.content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": b"<html>not grpc</html>"})


@pytest.fixture
def xray_api() -> Iterator[FakeXrayApi]:
    with running_xray_api() as api:
        yield api


@pytest.fixture
async def grpc_client() -> AsyncIterator[httpx.AsyncClient]:
    async with open_grpc_client() as client:
        yield client


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        yield client


# --- xray ----------------------------------------------------------------------------


async def test_xray_is_up_when_getstats_answers_ok(xray_api, grpc_client):
    """A successful GetStats call is up, and the request is a valid GetStatsRequest."""
    result = await XrayProbe(grpc_client, xray_api.addr).probe()

    assert result == ProbeResult.success()
    assert [parse_get_stats_request(raw) for raw in xray_api.requests] == [
        (PROBE_COUNTER_NAME, False)
    ]


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INTERNAL,
    ],
)
async def test_xray_is_up_on_other_grpc_errors(xray_api, grpc_client, code):
    """Any well-formed gRPC answer proves the API alive, NOT_FOUND and UNIMPLEMENTED too."""
    xray_api.abort_with = code

    assert await XrayProbe(grpc_client, xray_api.addr).probe() == ProbeResult.success()


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
    ],
)
async def test_xray_fails_on_unavailable_deadline_exceeded_and_cancelled(
    xray_api, grpc_client, code
):
    """UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED are failures named after the status."""
    xray_api.abort_with = code

    result = await XrayProbe(grpc_client, xray_api.addr).probe()

    assert result == ProbeResult.failure(f"grpc {code.name}")


async def test_xray_stopped_is_refused_and_restarted_is_up_again(xray_api, grpc_client):
    """After xray stops the probe says `connection refused`; once it is back, up again."""
    probe = XrayProbe(grpc_client, xray_api.addr)
    assert await probe.probe() == ProbeResult.success()

    xray_api.stop()
    assert await probe.probe() == ProbeResult.failure("connection refused")
    assert await probe.probe() == ProbeResult.failure("connection refused")

    xray_api.start()
    assert await probe.probe() == ProbeResult.success()
    assert await probe.probe() == ProbeResult.success()


async def test_xray_probe_of_a_silent_port_is_cut_by_the_callers_deadline(nursery, grpc_client):
    """A port that accepts but never answers keeps the probe waiting until the caller's
    deadline, which then ends it promptly."""
    addr = await nursery.start(serve_silent_tcp)
    started = trio.current_time()

    with trio.move_on_after(0.3) as deadline:
        await XrayProbe(grpc_client, addr).probe()

    elapsed = trio.current_time() - started
    assert deadline.cancelled_caught
    assert 0.3 <= elapsed < 1.0


async def test_xray_probe_of_a_plain_http_server_is_not_a_grpc_answer(nursery, grpc_client):
    """An HTTP server that is not gRPC (here a 404 page over h2c) is a failure."""
    app = TinyHttpApp(status=404, content_type="text/html; charset=utf-8")
    url = await nursery.start(serve_asgi, app)

    result = await XrayProbe(grpc_client, url.removeprefix("http://")).probe()

    assert result == ProbeResult.failure("not a gRPC answer: HTTP 404 text/html")
    assert app.paths == ["/xray.app.stats.command.StatsService/GetStats"]


async def test_xray_probe_of_a_200_without_grpc_content_type_fails(nursery, grpc_client):
    """A 200 that is not `application/grpc` is not a gRPC answer either."""
    app = TinyHttpApp(status=200, content_type="application/json")
    url = await nursery.start(serve_asgi, app)

    result = await XrayProbe(grpc_client, url.removeprefix("http://")).probe()

    assert result == ProbeResult.failure("not a gRPC answer: HTTP 200 application/json")


async def test_xray_refused_without_any_server(grpc_client):
    """Nothing listening on the API address is `connection refused`."""
    result = await XrayProbe(grpc_client, f"127.0.0.1:{free_port()}").probe()

    assert result == ProbeResult.failure("connection refused")


def test_get_stats_request_is_a_length_prefixed_protobuf_message():
    """The request body is gRPC's 5-byte prefix and GetStatsRequest{name, reset}."""
    body = get_stats_request("a" * 200, reset=True)
    message = body[5:]

    assert body[0] == 0
    assert int.from_bytes(body[1:5], "big") == len(message)
    # field 1, a two-byte varint length (200 = 0xC8 0x01), then field 2 = true
    assert message == b"\x0a\xc8\x01" + b"a" * 200 + b"\x10\x01"


# --- cloudflared metrics -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, ProbeResult.success()), (503, ProbeResult.failure("HTTP 503"))],
)
async def test_metrics_probe_reads_ready(nursery, http_client, status, expected):
    """`GET {metrics_url}/ready`: 200 is up, anything else a failure naming the status."""
    app = TinyHttpApp(status=status, content_type="application/json")
    url = await nursery.start(serve_asgi, app)

    result = await MetricsProbe(http_client, url + "/").probe()

    assert result == expected
    assert app.paths == ["/ready"]


async def test_metrics_probe_refused(http_client):
    """No cloudflared metrics server is `connection refused`."""
    result = await MetricsProbe(http_client, f"http://{f'127.0.0.1:{free_port()}'}").probe()

    assert result == ProbeResult.failure("connection refused")


# --- commands ------------------------------------------------------------------------


async def test_systemd_probe_asks_systemctl_is_active(fake_programs: FakePrograms):
    """The systemd probe runs `systemctl is-active --quiet UNIT`; exit 0 is up."""
    result = await systemd_probe("cloudflared.service").probe()

    assert result == ProbeResult.success()
    assert fake_programs.calls() == ["systemctl is-active --quiet cloudflared.service"]


async def test_systemd_probe_fails_with_the_exit_status(fake_programs: FakePrograms):
    """An inactive unit (exit 3, quiet) is a failure `exit 3`."""
    fake_programs.behave("systemctl", exit_status=3)

    assert await systemd_probe("cloudflared.service").probe() == ProbeResult.failure("exit 3")


async def test_openrc_probe_fails_with_the_last_output_line(fake_programs: FakePrograms):
    """`rc-service SERVICE status` failing gives its exit status and last line."""
    fake_programs.behave("rc-service", exit_status=3, stdout=" * status: stopped")

    result = await openrc_probe("cloudflared").probe()

    assert result == ProbeResult.failure("exit 3: status: stopped")
    assert fake_programs.calls() == ["rc-service cloudflared status"]


async def test_command_probe_runs_the_operators_argv(fake_programs: FakePrograms):
    """A probe command runs as given, without a shell: exit 0 is up."""
    probe = CommandProbe(["fake-tool", "check", "a b", "$HOME"])

    assert await probe.probe() == ProbeResult.success()
    assert fake_programs.calls() == ["fake-tool check a b $HOME"]


async def test_command_probe_of_a_missing_program(fake_programs: FakePrograms):
    """A probe program missing from PATH is a failure saying so."""
    result = await CommandProbe(["cloudflared-check"]).probe()

    assert result == ProbeResult.failure("cloudflared-check: not found on PATH")


# --- building ------------------------------------------------------------------------


def _cloudflared_settings(mode: CloudflaredMonitorMode, **changes: Any) -> ComponentSettings:
    return ComponentSettings(
        health_interval_secs=5,
        fails_before_down=3,
        restart_mode=RestartMode.NONE,
        restart_cooldown_secs=30,
        restart_timeout_secs=20,
        restart_backoff_max_secs=600,
        systemd_unit="cloudflared.service",
        openrc_service="cloudflared",
        monitor_mode=mode,
        **changes,
    )


async def test_build_cloudflared_probe_follows_the_monitor_mode(http_client):
    """Each monitor mode gets its probe; `none` gets none."""

    def build(mode: CloudflaredMonitorMode, **changes: Any) -> object:
        return build_cloudflared_probe(_cloudflared_settings(mode, **changes), http_client)

    assert build(CloudflaredMonitorMode.NONE) is None
    assert build(CloudflaredMonitorMode.SYSTEMD) == systemd_probe("cloudflared.service")
    assert build(CloudflaredMonitorMode.OPENRC) == openrc_probe("cloudflared")
    assert build(CloudflaredMonitorMode.COMMAND, probe_command=("check", "-q")) == CommandProbe(
        ("check", "-q")
    )
    assert build(
        CloudflaredMonitorMode.METRICS, metrics_url="http://127.0.0.1:20241"
    ) == MetricsProbe(http_client, "http://127.0.0.1:20241")
    with pytest.raises(ValueError, match="probe command"):
        build(CloudflaredMonitorMode.COMMAND)
    with pytest.raises(ValueError, match="metrics URL"):
        build(CloudflaredMonitorMode.METRICS)


# --- transport errors ----------------------------------------------------------------


def _chained(outer: httpx.HTTPError, *causes: BaseException) -> httpx.HTTPError:
    """`outer` raised from the chain `causes[0]` ← `causes[1]` ← … as httpx does."""
    for inner, cause in itertools.pairwise(causes):
        inner.__cause__ = cause
    if causes:
        outer.__cause__ = causes[0]
    return outer


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (
            _chained(
                httpx.ConnectError("all attempts to connect to [::1]:1 failed"),
                OSError("all attempts to connect to [::1]:1 failed"),
                ExceptionGroup(
                    "attempts",
                    [
                        OSError(errno.ENETUNREACH, "Network is unreachable"),
                        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
                    ],
                ),
            ),
            "network unreachable / connection refused",
        ),
        (
            _chained(httpx.ReadError("reset"), ConnectionResetError(errno.ECONNRESET, "reset")),
            "connection reset",
        ),
        (
            _chained(httpx.WriteError("pipe"), BrokenPipeError(errno.EPIPE, "pipe")),
            "connection reset",
        ),
        (httpx.ReadTimeout("timed out"), "read timed out"),
        (httpx.ConnectTimeout("timed out"), "connect timed out"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "connection closed by the server",
        ),
        (httpx.RemoteProtocolError("illegal header"), "protocol error: illegal header"),
        (
            _chained(httpx.ConnectError("name"), socket.gaierror(-2, "Name or service not known")),
            "cannot resolve host (Name or service not known)",
        ),
    ],
)
def test_transport_errors_read_as_short_reasons(exc, reason):
    """httpx's transport errors become the short reason an operator expects."""
    assert describe_transport_error(exc) == reason
