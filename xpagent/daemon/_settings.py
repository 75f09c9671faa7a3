"""The daemon's validated settings: what `XP_*` variables and `xpagent run` flags mean
once checked. Parsing and checking live in `_config.py`; this module only holds the
values, so every other part of the daemon depends on these types alone."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from ipaddress import ip_address
from pathlib import Path

import attrs

from xpagent.core import Component

__all__ = [
    "CloudflaredMonitorMode",
    "ClusterNode",
    "ComponentSettings",
    "LogFormat",
    "RestartMode",
    "Settings",
    "is_loopback_host",
]


class RestartMode(enum.StrEnum):
    NONE = "none"
    SYSTEMD = "systemd"
    OPENRC = "openrc"
    COMMAND = "command"


class CloudflaredMonitorMode(enum.StrEnum):
    NONE = "none"
    SYSTEMD = "systemd"
    OPENRC = "openrc"
    COMMAND = "command"
    METRICS = "metrics"


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


@attrs.frozen
class ClusterNode:
    """One `[[nodes]]` entry of the cluster file."""

    node_id: str
    node_name: str
    api_base_url: str
    access_host: str | None = None


@attrs.frozen
class ComponentSettings:
    """How one supervised component is probed and restarted.

    `api_addr` (`host:port` of its gRPC API) is xray's probe target; `monitor_mode`,
    `probe_command` and `metrics_url` choose cloudflared's probe (xray is always
    probed over gRPC, so its `monitor_mode` is None). Monitor mode `none` means the
    component is not used on this node.
    """

    health_interval_secs: int
    fails_before_down: int
    restart_mode: RestartMode
    restart_cooldown_secs: int
    restart_timeout_secs: int
    restart_backoff_max_secs: int
    systemd_unit: str
    openrc_service: str
    restart_command: tuple[str, ...] | None = None
    monitor_mode: CloudflaredMonitorMode | None = None
    probe_command: tuple[str, ...] | None = None
    metrics_url: str | None = None
    api_addr: str | None = None
    #: Consecutive successful probes before a `down` component is `up` again.
    successes_before_up: int = 1
    #: xray's data-plane probe (XP_XRAY_DATAPLANE_*), on when `dataplane_proxy` is
    #: set: `dataplane_url` fetched through that inbound every
    #: `dataplane_interval_secs`; `dataplane_restart` says whether its failure alone
    #: requests a restart.
    dataplane_proxy: str | None = None
    dataplane_url: str | None = None
    dataplane_interval_secs: int = 30
    dataplane_restart: bool = False

    @property
    def enabled(self) -> bool:
        return self.monitor_mode is not CloudflaredMonitorMode.NONE


@attrs.frozen
class Settings:
    """Everything `xpagent run` needs, checked and with defaults applied.

    `cluster` always holds this node (a cluster of one when no cluster file is
    set). `cluster_secret` is the key of the internal signature, already
    stripped; `admin_token` is empty when none is required.
    """

    bind_host: str
    bind_port: int
    data_dir: Path
    node_id: str
    node_name: str
    cluster: tuple[ClusterNode, ...]
    cluster_secret: bytes | None = attrs.field(repr=False)
    cluster_ca_file: Path | None
    admin_token: str = attrs.field(repr=False)
    runtime_fanout_timeout_secs: int
    sse_max_streams: int
    #: Each supervised component's settings, in CONTRACT §1's order.
    components: Mapping[Component, ComponentSettings]
    log_level: str
    log_format: LogFormat

    @property
    def xray(self) -> ComponentSettings:
        return self.components[Component.XRAY]

    @property
    def cloudflared(self) -> ComponentSettings:
        return self.components[Component.CLOUDFLARED]

    @property
    def xray_api_addr(self) -> str:
        """`host:port` of xray's gRPC API (XP_XRAY_API_ADDR)."""
        assert self.xray.api_addr is not None
        return self.xray.api_addr

    @property
    def this_node(self) -> ClusterNode:
        return next(node for node in self.cluster if node.node_id == self.node_id)

    @property
    def bind_is_loopback(self) -> bool:
        return is_loopback_host(self.bind_host)


def is_loopback_host(host: str) -> bool:
    """Whether `host` (an address, `[v6]`, or `localhost`) is a loopback address."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
