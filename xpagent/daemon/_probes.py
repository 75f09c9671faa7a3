"""Probes: one question to a component, answered by a `ProbeResult`.

A probe takes no timeout and never raises for a failed component: it returns a
failure with a short human reason. The supervisor bounds it with its deadline
(`trio.move_on_after`); a cancelled probe leaves nothing running.

- `XrayProbe`: one gRPC unary call (`StatsService/GetStats`) over HTTP/2 cleartext
  with prior knowledge. Any well-formed gRPC answer proves the API alive, even
  `NOT_FOUND` or `UNIMPLEMENTED`, except `UNAVAILABLE`, `DEADLINE_EXCEEDED` and
  `CANCELLED`.
- `CommandProbe`: a program's exit status (0 = up); `systemd_probe` and
  `openrc_probe` are the init-system flavours.
- `MetricsProbe`: cloudflared's `GET {metrics_url}/ready`, 200 = up.
- `DataPlaneProbe`: xray's data plane (CONTRACT §6): `GET {url}` through a SOCKS5
  or HTTP inbound of xray, any 2xx = up. It runs beside the supervisors, in its
  own `DataPlaneWatch` at its own interval, which keeps its latest answer;
  `DataPlaneGatedProbe` is xray's probe when it is on: the API probe, failed
  (`data plane: …`) while that latest answer is a failure.

`PROBES` says which probe each supervised component gets (its builder from the
component's settings, and its deadline).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Protocol, assert_never

import attrs
import httpx
import trio

from xpagent.core import Component, ProbeResult

from ._commands import command_argv, run_command
from ._settings import CloudflaredMonitorMode, ComponentSettings
from ._transport_errors import describe_transport_error

__all__ = [
    "DATAPLANE_DEADLINE_SECS",
    "GET_STATS_PATH",
    "GRPC_STATUS_NAMES",
    "PROBES",
    "PROBE_COUNTER_NAME",
    "CommandProbe",
    "DataPlaneGatedProbe",
    "DataPlaneProbe",
    "DataPlaneWatch",
    "MetricsProbe",
    "Probe",
    "ProbeBuilder",
    "ProbeClients",
    "ProbeKind",
    "XrayProbe",
    "build_cloudflared_probe",
    "build_xray_probe",
    "get_stats_request",
    "open_data_plane",
    "open_data_plane_client",
    "open_grpc_client",
    "openrc_probe",
    "systemd_probe",
]


class Probe(Protocol):
    async def probe(self) -> ProbeResult:
        """Ask the component once; runs until answered or cancelled."""
        ...


#: The gRPC status codes by number (grpc/include/grpc/impl/codegen/status.h).
GRPC_STATUS_NAMES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
#: Answers that come from gRPC machinery but say the service cannot serve.
_NOT_ALIVE_STATUSES = frozenset({1, 4, 14})  # CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE

GET_STATS_PATH = "/xray.app.stats.command.StatsService/GetStats"
#: A counter xray has when its API inbound is tagged `api`; NOT_FOUND is fine too.
PROBE_COUNTER_NAME = "inbound>>>api>>>traffic>>>uplink"
_GRPC_HEADERS = {"content-type": "application/grpc", "te": "trailers"}
#: A gRPC answer to GetStats is tiny; read no more of any answer than this.
_MAX_BODY_BYTES = 64 * 1024


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def get_stats_request(name: str, *, reset: bool = False) -> bytes:
    """A length-prefixed gRPC message holding `GetStatsRequest{name, reset}`.

    Protobuf by hand: field 1 (`name`, string) and field 2 (`reset`, bool, left out
    when false as proto3 does).
    """
    encoded = name.encode()
    message = b"\x0a" + _varint(len(encoded)) + encoded
    if reset:
        message += b"\x10\x01"
    return b"\x00" + len(message).to_bytes(4, "big") + message


_GET_STATS_BODY = get_stats_request(PROBE_COUNTER_NAME)


def open_grpc_client() -> httpx.AsyncClient:
    """The client for `XrayProbe`: HTTP/2 with prior knowledge, one connection per call.

    No connection is kept between probes: httpcore's HTTP/2 pool does not notice
    that an idle connection was closed by the server, so after an xray restart the
    next probe on a pooled connection would fail with a broken pipe instead of
    reconnecting (and a connection to a hung xray would be kept forever). A new
    loopback connection every probe period costs nothing. Proxy variables are
    ignored: xray's API is always reached directly. The timeouts are only a
    backstop; the supervisor's probe deadline is shorter.
    """
    return httpx.AsyncClient(
        http1=False,
        http2=True,
        trust_env=False,
        timeout=httpx.Timeout(5.0, connect=2.0),
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=0),
    )


async def _read_bounded(response: httpx.Response) -> None:
    """Read (and drop) the body, so the stream ends cleanly, up to `_MAX_BODY_BYTES`."""
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > _MAX_BODY_BYTES:
            return


async def _get_status(client: httpx.AsyncClient, url: str) -> int:
    """`GET url` (its body read up to `_MAX_BODY_BYTES`): the answer's status code.

    Raises httpx.HTTPError when there is no answer.
    """
    async with client.stream("GET", url) as response:
        await _read_bounded(response)
    return response.status_code


def _media_type(response: httpx.Response) -> str:
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower()


def _judge_grpc_answer(response: httpx.Response) -> ProbeResult:
    media_type = _media_type(response)
    if response.status_code != 200 or not media_type.startswith("application/grpc"):
        shown = media_type or "no content-type"
        return ProbeResult.failure(f"not a gRPC answer: HTTP {response.status_code} {shown}")
    raw_status = response.headers.get("grpc-status")
    if raw_status is None:
        # A success carries grpc-status in trailers, which httpx does not expose;
        # errors come trailers-only, with grpc-status in the headers.
        return ProbeResult.success()
    try:
        code = int(raw_status)
    except ValueError:
        return ProbeResult.failure(f"not a gRPC answer: grpc-status {raw_status[:20]!r}")
    if code in _NOT_ALIVE_STATUSES:
        return ProbeResult.failure(f"grpc {GRPC_STATUS_NAMES[code]}")
    return ProbeResult.success()


@attrs.frozen
class XrayProbe:
    """Calls xray's `StatsService/GetStats` at `api_addr` (`host:port`).

    `client` should come from `open_grpc_client`.
    """

    client: httpx.AsyncClient
    api_addr: str

    @property
    def url(self) -> str:
        return f"http://{self.api_addr}{GET_STATS_PATH}"

    async def probe(self) -> ProbeResult:
        try:
            async with self.client.stream(
                "POST", self.url, content=_GET_STATS_BODY, headers=_GRPC_HEADERS
            ) as response:
                await _read_bounded(response)
        except httpx.HTTPError as exc:
            return ProbeResult.failure(describe_transport_error(exc))
        return _judge_grpc_answer(response)


@attrs.frozen
class CommandProbe:
    """Runs `argv`; exit 0 is up, anything else a failure with the exit reason."""

    argv: tuple[str, ...] = attrs.field(converter=command_argv)

    async def probe(self) -> ProbeResult:
        result = await run_command(self.argv)
        return ProbeResult.success() if result.ok else ProbeResult.failure(result.reason)


def systemd_probe(unit: str) -> CommandProbe:
    return CommandProbe(("systemctl", "is-active", "--quiet", unit))


def openrc_probe(service: str) -> CommandProbe:
    return CommandProbe(("rc-service", service, "status"))


@attrs.frozen
class MetricsProbe:
    """cloudflared's readiness: `GET {metrics_url}/ready`, 200 = up.

    A running cloudflared without an edge connection answers 503, which an
    init-system status cannot see. `client` is the process's HTTP/1.1 client.
    """

    client: httpx.AsyncClient
    metrics_url: str

    @property
    def url(self) -> str:
        return f"{self.metrics_url.rstrip('/')}/ready"

    async def probe(self) -> ProbeResult:
        try:
            status = await _get_status(self.client, self.url)
        except httpx.HTTPError as exc:
            return ProbeResult.failure(describe_transport_error(exc))
        if status == 200:
            return ProbeResult.success()
        return ProbeResult.failure(f"HTTP {status}")


def build_cloudflared_probe(
    settings: ComponentSettings, http_client: httpx.AsyncClient
) -> Probe | None:
    """The probe cloudflared's monitor mode asks for; None when it is not used here.

    Raises ValueError for settings the configuration check should have refused
    (no monitor mode, or a mode without its command or URL).
    """
    mode = settings.monitor_mode
    if mode is None:
        raise ValueError("no monitor mode: these are not cloudflared's settings")
    if mode is CloudflaredMonitorMode.NONE:
        return None
    if mode is CloudflaredMonitorMode.SYSTEMD:
        return systemd_probe(settings.systemd_unit)
    if mode is CloudflaredMonitorMode.OPENRC:
        return openrc_probe(settings.openrc_service)
    if mode is CloudflaredMonitorMode.COMMAND:
        if not settings.probe_command:
            raise ValueError("monitor mode command needs a probe command")
        return CommandProbe(settings.probe_command)
    if mode is CloudflaredMonitorMode.METRICS:
        if not settings.metrics_url:
            raise ValueError("monitor mode metrics needs a metrics URL")
        return MetricsProbe(http_client, settings.metrics_url)
    assert_never(mode)


#: CONTRACT §6: `data plane: timed out after 5s`.
DATAPLANE_DEADLINE_SECS = 5.0
#: How much of the API probe's deadline is left to report that the data plane has
#: not answered yet, rather than being cut off by the deadline itself.
_FIRST_ANSWER_MARGIN_SECS = 0.1
#: The transport's reasons, as they read for a request made through a proxy.
_THROUGH_PROXY_REASONS = {
    # Every connection the data-plane client opens goes to the proxy.
    "connection refused": "proxy refused",
    # Through a tunnel, the proxy or the target behind it: xray's SOCKS inbound
    # accepts first and closes when the target refuses.
    "connection closed by the server": "connection closed without an answer",
}


def open_data_plane_client(proxy: str) -> httpx.AsyncClient:
    """The data-plane probe's own client: every request through `proxy` (SOCKS5 with
    httpx's `socks` extra, or HTTP), on a new connection each time.

    Not the process's client: that one reaches nodes and cloudflared directly. No
    connection is kept, so each probe proves that xray forwards a new connection
    (one kept open could outlive what it is meant to test). Proxy variables of the
    environment are ignored; redirects are not followed (an expected answer is
    2xx). The timeouts are only a backstop behind `DATAPLANE_DEADLINE_SECS`.
    """
    return httpx.AsyncClient(
        proxy=proxy,
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(2 * DATAPLANE_DEADLINE_SECS),
        limits=httpx.Limits(max_connections=2, max_keepalive_connections=0),
    )


def _describe_data_plane_error(exc: httpx.HTTPError) -> str:
    reason = describe_transport_error(exc)
    return _THROUGH_PROXY_REASONS.get(reason, reason)


@attrs.frozen
class DataPlaneProbe:
    """`GET {url}` through xray (the client from `open_data_plane_client`); 2xx = up."""

    client: httpx.AsyncClient
    url: str

    async def probe(self) -> ProbeResult:
        try:
            status = await _get_status(self.client, self.url)
        except httpx.HTTPError as exc:
            return ProbeResult.failure(_describe_data_plane_error(exc))
        if 200 <= status < 300:
            return ProbeResult.success()
        return ProbeResult.failure(f"HTTP {status}")


@attrs.define
class DataPlaneWatch:
    """Asks the data plane (`probe`) over and over; `latest` is its latest answer.

    `run` probes under `deadline_secs` (an overrun is `timed out after 5s`), then
    again `interval_secs` after the start of a probe that passed, or
    `retry_secs` (xray's health interval) after the end of one that failed: xray's
    probe counts the latest answer at every API probe, so a failure is confirmed
    or cleared at that pace, and one lost request cannot hold xray down for a
    whole data-plane interval.
    """

    probe: Probe
    interval_secs: float
    retry_secs: float
    deadline_secs: float = DATAPLANE_DEADLINE_SECS
    latest: ProbeResult | None = attrs.field(default=None, init=False)
    _answered: trio.Event = attrs.field(factory=trio.Event, init=False)

    async def probe_once(self) -> ProbeResult:
        with trio.move_on_after(self.deadline_secs):
            return await self.probe.probe()
        return ProbeResult.failure(f"timed out after {self.deadline_secs:g}s")

    async def wait_answered(self) -> ProbeResult:
        """The latest answer, once there is one."""
        await self._answered.wait()
        assert self.latest is not None
        return self.latest

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Never returns."""
        task_status.started()
        while True:
            started = trio.current_time()
            self.latest = result = await self.probe_once()
            self._answered.set()
            if result.ok:
                await trio.sleep_until(started + self.interval_secs)
            else:
                await trio.sleep(self.retry_secs)


@attrs.frozen
class DataPlaneGatedProbe:
    """xray's probe with the data-plane probe on: `api` first, then the data plane's
    latest answer (`data plane: …` when it failed).

    Until the data plane has answered once, the probe waits for it as long as its
    deadline allows, so xray is never called up on its API alone. A data-plane
    failure calls for a restart only with `restart_on_failure`
    (XP_XRAY_DATAPLANE_RESTART); a failed API always does.
    """

    api: Probe
    data_plane: DataPlaneWatch
    restart_on_failure: bool

    async def probe(self) -> ProbeResult:
        api = await self.api.probe()
        if not api.ok:
            return api
        answer = self.data_plane.latest
        if answer is None:
            answer = await self._first_answer()
        if answer.ok:
            return api
        return ProbeResult(
            ok=False,
            reason=f"data plane: {answer.reason or 'failed'}",
            calls_for_restart=self.restart_on_failure,
        )

    async def _first_answer(self) -> ProbeResult:
        deadline = trio.current_effective_deadline()
        if deadline != math.inf:
            deadline -= _FIRST_ANSWER_MARGIN_SECS
        with trio.move_on_at(deadline):
            return await self.data_plane.wait_answered()
        return ProbeResult.failure("no answer yet")


@asynccontextmanager
async def open_data_plane(settings: ComponentSettings) -> AsyncIterator[DataPlaneWatch | None]:
    """The watch of xray's data plane with its own client, or None when its probe is off.

    Its `run` is for the caller to start; the client is closed on leaving.
    """
    if settings.dataplane_proxy is None:
        yield None
        return
    if settings.dataplane_url is None:
        raise ValueError("a data-plane proxy needs a data-plane URL")
    async with open_data_plane_client(settings.dataplane_proxy) as client:
        yield DataPlaneWatch(
            DataPlaneProbe(client, settings.dataplane_url),
            interval_secs=settings.dataplane_interval_secs,
            retry_secs=settings.health_interval_secs,
            deadline_secs=min(DATAPLANE_DEADLINE_SECS, settings.dataplane_interval_secs),
        )


@attrs.frozen
class ProbeClients:
    """The process's clients a probe may use: `http` (HTTP/1.1, the process's one)
    and `grpc` (from `open_grpc_client`); and `data_plane`, the watch of xray's data
    plane when its probe is on (from `open_data_plane`)."""

    http: httpx.AsyncClient
    grpc: httpx.AsyncClient
    data_plane: DataPlaneWatch | None = None


#: Builds a component's probe from its settings; None when it is not used here.
ProbeBuilder = Callable[[ComponentSettings, ProbeClients], "Probe | None"]


def build_xray_probe(settings: ComponentSettings, clients: ProbeClients) -> Probe:
    """xray is always probed, over its gRPC API at `settings.api_addr`, and through
    its data plane too when that probe is on."""
    if not settings.api_addr:
        raise ValueError("no API address: these are not xray's settings")
    api = XrayProbe(clients.grpc, settings.api_addr)
    if settings.dataplane_proxy is None:
        return api
    if clients.data_plane is None:
        raise ValueError("the data-plane probe is on but no DataPlaneWatch was given")
    return DataPlaneGatedProbe(api, clients.data_plane, settings.dataplane_restart)


@attrs.frozen
class ProbeKind:
    """How one component is probed: its builder, and how long one probe may take
    at most (never longer than the component's health interval)."""

    build: ProbeBuilder
    deadline_secs: float


#: Every supervised component's probe, keyed by component: a newly monitored
#: component adds its builder and its row here (restarts are the same for all:
#: `build_restarter`). CONTRACT §1: xray's probe has a 1 s deadline.
PROBES: Mapping[Component, ProbeKind] = {
    Component.XRAY: ProbeKind(build_xray_probe, deadline_secs=1.0),
    Component.CLOUDFLARED: ProbeKind(
        lambda settings, clients: build_cloudflared_probe(settings, clients.http),
        deadline_secs=5.0,
    ),
}
