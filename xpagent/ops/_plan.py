"""What a node's service needs, decided from its settings before any file is written.

`plan_service` turns checked `Settings` (and the raw values the operator gave)
into a `ServicePlan`: the user, the command, the data directory, the values of
the environment file and exactly which units or services the agent may restart.
It refuses, with one line (`RenderError`), what a service could not run with: a
relative data directory or file, one the sandbox hides (`/home`, `/tmp`), a restart
mode of the other init system, an unusable user name.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from pathlib import PurePosixPath

import attrs

from xpagent.daemon import CloudflaredMonitorMode, RestartMode, Settings

__all__ = [
    "DEFAULT_USER",
    "SERVICE_DATA_DIR",
    "Init",
    "RenderError",
    "ServicePlan",
    "plan_service",
    "systemd_unit_name",
]

DEFAULT_USER = "xp"
#: The data directory of a service when XP_DATA_DIR is not given.
SERVICE_DATA_DIR = PurePosixPath("/var/lib/xpagent")

# Portable user names (useradd's default rule), so they need no quoting anywhere.
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Characters a unit file, an OpenRC script and doas.conf all take without quoting.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_./+@:,-]*")
_UNIT_TYPES = (
    ".service",
    ".socket",
    ".target",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".path",
    ".timer",
    ".slice",
    ".scope",
)
# Where systemd's ProtectHome= and PrivateTmp= would hide or discard the state.
_HIDDEN_FROM_SERVICE = ("/home", "/root", "/run/user", "/tmp", "/var/tmp")
#: Settings naming files the agent reads at start.
_FILE_SETTINGS = ("XP_CLUSTER_FILE", "XP_CLUSTER_SECRET_FILE", "XP_CLUSTER_CA_FILE")


class RenderError(ValueError):
    """The service files cannot be rendered; `str()` is one line saying why."""


class Init(enum.StrEnum):
    SYSTEMD = "systemd"
    OPENRC = "openrc"


@attrs.frozen
class ServicePlan:
    """Everything the service files say, decided.

    `command` is the argv the init system starts (ending in `run`). `env` holds
    the settings written into the environment file as given, plus `XP_DATA_DIR`.
    `systemd_units` and `openrc_services` are what the agent may restart and
    nothing more; `escalates` is true when a restart command of the operator's
    (command mode) may need sudo or doas, so the service must keep setuid working.
    """

    init: Init
    user: str
    command: tuple[str, ...]
    data_dir: PurePosixPath
    env: tuple[tuple[str, str], ...]
    systemd_units: tuple[str, ...] = ()
    openrc_services: tuple[str, ...] = ()
    escalates: bool = False
    sse_max_streams: int = 256

    @property
    def open_files_limit(self) -> int:
        """Descriptors the agent may need: two per relayed event stream, and room."""
        return max(4096, 2 * self.sse_max_streams + 1024)

    @property
    def state_directory(self) -> str | None:
        """The data directory relative to /var/lib, for systemd's StateDirectory=."""
        try:
            relative = self.data_dir.relative_to("/var/lib")
        except ValueError:
            return None
        return str(relative) if relative.parts else None


def systemd_unit_name(unit: str) -> str:
    """The unit name systemd uses for `unit`: `xray` is `xray.service`."""
    return unit if unit.endswith(_UNIT_TYPES) else f"{unit}.service"


def _check_user(user: str) -> None:
    if user == "root" or not _USER_NAME.fullmatch(user):
        what = "must not be root" if user == "root" else "is not a valid user name"
        raise RenderError(
            f"--user {user!r} {what}: the agent runs as an unprivileged system user (such as xp)"
        )


def _check_command(command: tuple[str, ...]) -> None:
    program = command[0]
    if not program.startswith("/"):
        raise RenderError(f"--executable {program!r} is not an absolute path")
    for arg in command:
        if not _PLAIN_PATH.fullmatch(arg) and not re.fullmatch(r"[A-Za-z0-9_.-]+", arg):
            raise RenderError(
                f"--executable {program!r}: {arg!r} holds characters the service files "
                "cannot take unquoted (spaces, quotes, $, %); install xpagent under a plain path"
            )


def _data_dir(given: Mapping[str, str], init: Init) -> PurePosixPath:
    raw = given.get("XP_DATA_DIR")
    if raw is None:
        return SERVICE_DATA_DIR
    if not raw.startswith("/"):
        raise RenderError(
            f"XP_DATA_DIR={raw} is relative; a service needs an absolute path "
            f"such as {SERVICE_DATA_DIR}"
        )
    if not _PLAIN_PATH.fullmatch(raw):
        raise RenderError(
            f"XP_DATA_DIR={raw!r} holds characters the service files cannot take "
            "unquoted (spaces, quotes, $, %)"
        )
    path = PurePosixPath(raw)
    if init is Init.SYSTEMD and _hidden(path):
        raise RenderError(
            f"XP_DATA_DIR={raw} is hidden from the service (ProtectHome=, "
            f"PrivateTmp=); use a directory such as {SERVICE_DATA_DIR}"
        )
    return path


def _hidden(path: PurePosixPath) -> bool:
    return any(path == PurePosixPath(d) or path.is_relative_to(d) for d in _HIDDEN_FROM_SERVICE)


def _check_files_visible(given: Mapping[str, str], init: Init) -> None:
    """The files the settings name must be where the service can read them."""
    for name in _FILE_SETTINGS:
        raw = given.get(name)
        if raw is None:
            continue
        if not raw.startswith("/"):
            raise RenderError(f"{name}={raw} is relative; a service needs an absolute path")
        if init is Init.SYSTEMD and _hidden(PurePosixPath(raw)):
            raise RenderError(
                f"{name}={raw} is hidden from the service (ProtectHome=, PrivateTmp=); "
                "keep it under /etc/xpagent"
            )


def _check_fits(name: str, mode: str, init: Init) -> None:
    other = {Init.SYSTEMD: "openrc", Init.OPENRC: "systemd"}[init]
    if mode == other:
        raise RenderError(
            f"{name}={mode} does not fit --init {init}: on this host restarts go "
            f"through {init} (or a command)"
        )


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def plan_service(
    settings: Settings,
    given: Mapping[str, str],
    *,
    init: Init,
    user: str,
    command: tuple[str, ...],
) -> ServicePlan:
    """The plan for running the node configured by `settings` under `init`.

    `given` holds the raw values of the settings the operator set (flag or
    environment, non-empty), which the environment file repeats. Raises
    RenderError for what a service could not run with.
    """
    _check_user(user)
    _check_command(command)
    data_dir = _data_dir(given, init)
    _check_files_visible(given, init)
    components = (
        ("XP_XRAY", settings.xray),
        ("XP_CLOUDFLARED", settings.cloudflared),
    )
    for prefix, component in components:
        _check_fits(f"{prefix}_RESTART_MODE", component.restart_mode.value, init)
    monitor = settings.cloudflared.monitor_mode
    if monitor is not None and monitor is not CloudflaredMonitorMode.METRICS:
        _check_fits("XP_CLOUDFLARED_MONITOR_MODE", monitor.value, init)

    units = [
        systemd_unit_name(component.systemd_unit)
        for _, component in components
        if component.restart_mode is RestartMode.SYSTEMD
    ]
    services = [
        component.openrc_service
        for _, component in components
        if component.restart_mode is RestartMode.OPENRC
    ]
    escalates = any(component.restart_mode is RestartMode.COMMAND for _, component in components)
    env = {**given, "XP_DATA_DIR": str(data_dir)}
    return ServicePlan(
        init=init,
        user=user,
        command=command,
        data_dir=data_dir,
        env=tuple(env.items()),
        systemd_units=_unique(units),
        openrc_services=_unique(services),
        escalates=escalates,
        sse_max_streams=settings.sse_max_streams,
    )
