"""Turning `XP_*` environment variables and `xpagent run` flags into `Settings`.

`SETTINGS` is the one table of every variable in CONTRACT §1: its name, the
matching flag (`XP_FOO_BAR` ↔ `--foo-bar`), its default, what values it allows and
what it means. `add_run_arguments` builds the flags from it and `load_settings`
checks values against it, so help text, validation and docs cannot drift apart.

How a value is chosen: a flag that was given wins over the environment; an empty
value (from either) means "not set", so the default applies. `load_settings`
checks every value, then the rules between values, then reads the files the
settings name (cluster file, secret, CA file) and finally creates `XP_DATA_DIR`
and, when needed, `${XP_DATA_DIR}/node_id`. A bad configuration therefore leaves
nothing behind on disk.

Errors: `ConfigError` (a `ValueError`), whose `str` is one line naming the
variable (or the file and its entry and field), the value and what is allowed —
`XP_CLOUDFLARED_HEALTH_INTERVAL_SECS=0 is out of range 1..=60`. The first problem
found is the one reported. The files the settings name are read here and nowhere
else, each by one function (`_read_cluster_file`, `_read_secret`,
`_persistent_node_id`) that reads a bounded number of bytes and turns any failure
of decoding them into a `ConfigError` — including what Python's parsers raise
beyond their documented errors (a 5000-digit integer in TOML is a plain
ValueError, deep nesting a RecursionError). Things that are accepted but deserve
a line in the log (a secret file readable by other users, an unknown `XP_*`
variable, a setting that the chosen mode ignores) come back in
`LoadedSettings.warnings`. Neither ever contains the cluster secret or the admin
token.
"""

from __future__ import annotations

import argparse
import enum
import ipaddress
import os
import re
import shlex
import socket
import ssl
import stat
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import attrs
from ulid import ULID

from ._settings import (
    CloudflaredMonitorMode,
    ClusterNode,
    ComponentSettings,
    LogFormat,
    RestartMode,
    Settings,
    is_loopback_host,
)

__all__ = [
    "NODE_ID_FILE_NAME",
    "NODE_ID_NOT_CREATED",
    "SETTINGS",
    "ConfigError",
    "LoadedSettings",
    "Setting",
    "add_run_arguments",
    "flags_from_namespace",
    "load_settings",
]

NODE_ID_FILE_NAME = "node_id"
#: The node id `load_settings(..., create_files=False)` reports instead of generating one.
NODE_ID_NOT_CREATED = "not-created"
MIN_SECRET_BYTES = 32
MAX_SECRET_FILE_BYTES = 4096
#: Far above a few hundred `[[nodes]]` entries; a bigger file is a wrong path.
MAX_CLUSTER_FILE_BYTES = 4 * 2**20
#: A node id is at most 64 characters; the file holds it and a newline.
MAX_NODE_ID_FILE_BYTES = 4096
NAME_MAX_CHARS = 64

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
E = TypeVar("E", bound=enum.StrEnum)


class ConfigError(ValueError):
    """The configuration cannot be used; `str()` is one line saying what and why."""


@attrs.frozen
class LoadedSettings:
    """What `load_settings` returns: the settings, and warnings for the log (one line each)."""

    settings: Settings
    warnings: tuple[str, ...] = ()


class _Invalid(Exception):
    """A kind's verdict on one raw value: the reason, worded to follow `NAME=value `."""


# --- how values are shown -------------------------------------------------------

_SHOW_MAX_CHARS = 80


def _show(value: str) -> str:
    """`value` as it may appear in a one-line message: bare when plain, else quoted."""
    value = _shorten(value)
    plain = (
        value != "" and value.isprintable() and not any(c.isspace() or c in "'\"" for c in value)
    )
    return value if plain else repr(value)


def _quote(value: str) -> str:
    """`value` quoted for a one-line message (a cluster file's field)."""
    return repr(_shorten(value))


def _shorten(value: str) -> str:
    return value if len(value) <= _SHOW_MAX_CHARS else value[:_SHOW_MAX_CHARS] + "…"


def _show_path(path: Path) -> str:
    return _show(str(path))


# --- kinds: what a setting's value may be ----------------------------------------


class _Kind(Protocol[T_co]):
    @property
    def allowed(self) -> str:
        """What values are allowed, as shown in help, docs and messages."""
        ...

    def parse(self, raw: str) -> T_co:
        """The value `raw` stands for; raises `_Invalid` with the reason otherwise."""
        ...


@attrs.frozen
class _Integer:
    low: int
    high: int

    @property
    def allowed(self) -> str:
        return f"{self.low}..={self.high}"

    def parse(self, raw: str) -> int:
        if re.fullmatch(r"[+-]?[0-9]+", raw) is None:
            raise _Invalid(f"is not an integer in range {self.allowed}")
        # Very long digit strings are out of any range; int() would refuse them anyway.
        number = int(raw) if len(raw) <= 20 else self.high + 1
        if not self.low <= number <= self.high:
            raise _Invalid(f"is out of range {self.allowed}")
        return number


@attrs.frozen
class _Choice(Generic[T_co]):
    values: tuple[str, ...]
    convert: Callable[[str], T_co]

    @property
    def allowed(self) -> str:
        return "|".join(self.values)

    def parse(self, raw: str) -> T_co:
        value = raw.lower()
        if value not in self.values:
            raise _Invalid(f"is not one of {self.allowed}")
        return self.convert(value)


def _enum_choice(enum_type: type[E]) -> _Choice[E]:
    return _Choice(tuple(member.value for member in enum_type), enum_type)


@attrs.frozen
class _HostPort:
    host: str  # without brackets
    port: int

    @property
    def netloc(self) -> str:
        """`host:port`, with the host in brackets when it is an IPv6 address."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _host_problem(host: str) -> str | None:
    """Why `host` (an IPv4 address or a host name, no brackets) is unusable, or None."""
    if not host:
        return "has no host"
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "has an invalid IPv4 address"
        return None
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "has an invalid host name"
    return None


def _ipv6_problem(host: str) -> str | None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return "has an invalid IPv6 address in brackets"
    return None


@attrs.frozen
class _Address:
    min_port: int

    @property
    def allowed(self) -> str:
        return f"host:port with an IPv4, [IPv6] or named host and port {self.min_port}..=65535"

    def parse(self, raw: str) -> _HostPort:
        if raw.startswith("["):
            host, sep, port_text = raw[1:].partition("]:")
            if not sep:
                raise _Invalid(f"is not [IPv6]:port (allowed: {self.allowed})")
            problem = _ipv6_problem(host)
        else:
            host, sep, port_text = raw.rpartition(":")
            if not sep:
                raise _Invalid(f"is not host:port (allowed: {self.allowed})")
            if ":" in host:
                raise _Invalid("has an IPv6 host without brackets; write [address]:port")
            problem = _host_problem(host)
        if problem is not None:
            raise _Invalid(f"{problem} (allowed: {self.allowed})")
        if re.fullmatch(r"[0-9]{1,5}", port_text) is None:
            raise _Invalid(f"has no valid port (allowed: {self.allowed})")
        port = int(port_text)
        if not self.min_port <= port <= 65535:
            raise _Invalid(f"has port {port} out of range {self.min_port}..=65535")
        return _HostPort(host, port)


@attrs.frozen
class _Pattern:
    pattern: str
    description: str

    @property
    def allowed(self) -> str:
        return self.description

    def parse(self, raw: str) -> str:
        if re.fullmatch(self.pattern, raw) is None:
            raise _Invalid(f"is not {self.description}")
        return raw


# `runtime` would be shadowed by the route `/api/admin/nodes/runtime`.
_NODE_ID = _Pattern(
    r"(?!runtime$)[A-Za-z0-9_-]{1,64}", "1..64 characters of [A-Za-z0-9_-], other than 'runtime'"
)
_NODE_ID_RE = re.compile(_NODE_ID.pattern)


def _name_problem(name: str) -> str | None:
    if not 1 <= len(name) <= NAME_MAX_CHARS:
        return f"is not 1..{NAME_MAX_CHARS} characters long"
    if not name.isprintable():
        return "contains control characters"
    if name.isspace():
        return "is blank"
    return None


@attrs.frozen
class _DisplayName:
    @property
    def allowed(self) -> str:
        return f"1..{NAME_MAX_CHARS} printable characters"

    def parse(self, raw: str) -> str:
        problem = _name_problem(raw)
        if problem is not None:
            raise _Invalid(problem)
        return raw


@attrs.frozen
class _PathKind:
    @property
    def allowed(self) -> str:
        return "path"

    def parse(self, raw: str) -> Path:
        return Path(raw)


@attrs.frozen
class _Argv:
    @property
    def allowed(self) -> str:
        return "command line, split like a shell does, run without a shell"

    def parse(self, raw: str) -> tuple[str, ...]:
        try:
            argv = shlex.split(raw)
        except ValueError as exc:
            raise _Invalid(f"is not a valid shell-quoted command line ({exc})") from None
        if not argv:
            raise _Invalid("is an empty command line")
        return tuple(argv)


def _base_url_problem(raw: str) -> str | None:
    """Why `raw` is not an http(s) URL with a host and no path beyond '/', or None."""
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "is not an http(s) URL"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    host = parts.hostname or ""
    problem = _ipv6_problem(host) if ":" in host else _host_problem(host)
    if problem is not None:
        return problem
    if port is None and parts.netloc.endswith(":"):
        return "has an empty port"
    if parts.path not in ("", "/") or parts.query or parts.fragment or raw.endswith(("?", "#")):
        return "must not have a path, query or fragment"
    return None


@attrs.frozen
class _BaseUrl:
    @property
    def allowed(self) -> str:
        return "http(s)://host[:port]"

    def parse(self, raw: str) -> str:
        problem = _base_url_problem(raw)
        if problem is not None:
            raise _Invalid(f"{problem} (allowed: {self.allowed})")
        return raw.removesuffix("/")


@attrs.frozen
class _Token:
    @property
    def allowed(self) -> str:
        return "visible ASCII characters, no spaces"

    def parse(self, raw: str) -> str:
        # It travels in an `Authorization` header: anything else could never match.
        if re.fullmatch(r"[!-~]+", raw) is None:
            raise _Invalid(f"contains characters other than {self.allowed}")
        return raw


# --- the table -------------------------------------------------------------------


@attrs.frozen
class Setting(Generic[T]):
    """One `XP_*` setting: its name, kind, default (as text, None = unset) and meaning.

    `default_doc` says what the default is when it is not a plain value (derived
    or generated). A `secret` setting's value never appears in messages.
    """

    name: str
    kind: _Kind[T]
    default: str | None
    help: str
    default_doc: str | None = None
    secret: bool = False

    @property
    def flag(self) -> str:
        """The `xpagent run` flag: `XP_FOO_BAR` → `--foo-bar`."""
        return "--" + self.name.removeprefix("XP_").lower().replace("_", "-")

    @property
    def allowed(self) -> str:
        return self.kind.allowed

    @property
    def default_text(self) -> str:
        if self.default_doc is not None:
            return self.default_doc
        return "unset" if self.default is None else self.default


_RESTART_MODES = _enum_choice(RestartMode)
_SECS_60 = _Integer(1, 60)
_FAILS = _Integer(1, 10)
_COOLDOWN = _Integer(1, 3600)
_BACKOFF = _Integer(1, 86400)
_SYSTEMD_UNIT = _Pattern(
    r"[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]{0,254}",
    "a systemd unit name ([A-Za-z0-9:_.\\@-], not starting with '-')",
)
_OPENRC_SERVICE = _Pattern(
    r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}",
    "an OpenRC service name ([A-Za-z0-9_.-], not starting with '-')",
)

BIND = Setting(
    "XP_BIND",
    _Address(min_port=0),
    "127.0.0.1:62416",
    "HTTP listen address; port 0 picks a free port (for tests)",
)
DATA_DIR = Setting("XP_DATA_DIR", _PathKind(), "./data", "state directory, created if missing")
NODE_ID = Setting(
    "XP_NODE_ID",
    _NODE_ID,
    None,
    "this node's id; required with XP_CLUSTER_FILE and one of its node_ids",
    default_doc="generated once, kept in ${XP_DATA_DIR}/node_id",
)
NODE_NAME = Setting(
    "XP_NODE_NAME",
    _DisplayName(),
    None,
    "this node's display name",
    default_doc="the node_name in XP_CLUSTER_FILE, else the host name (first 64 characters)",
)
CLUSTER_FILE = Setting(
    "XP_CLUSTER_FILE",
    _PathKind(),
    None,
    "TOML file listing the cluster's nodes",
    default_doc="unset: a cluster of this node alone",
)
CLUSTER_SECRET_FILE = Setting(
    "XP_CLUSTER_SECRET_FILE",
    _PathKind(),
    None,
    "file holding the key for internal signatures (at least 32 bytes once surrounding "
    "whitespace is stripped); required when the cluster has more than one node",
)
CLUSTER_CA_FILE = Setting(
    "XP_CLUSTER_CA_FILE",
    _PathKind(),
    None,
    "PEM file of trust roots for peers' https:// base URLs",
    default_doc="the system trust store",
)
ADMIN_TOKEN = Setting(
    "XP_ADMIN_TOKEN",
    _Token(),
    None,
    "bearer token for /api/admin/*; may be empty only when XP_BIND is a loopback "
    "address (prefer the variable: a flag shows in the process list)",
    default_doc="empty",
    secret=True,
)
RUNTIME_FANOUT_TIMEOUT_SECS = Setting(
    "XP_RUNTIME_FANOUT_TIMEOUT_SECS",
    _SECS_60,
    "5",
    "deadline for one remote node in the aggregated runtime list",
)
SSE_MAX_STREAMS = Setting(
    "XP_SSE_MAX_STREAMS",
    _Integer(1, 10000),
    "256",
    "concurrent SSE streams this node serves; beyond it new ones get 503",
)
XRAY_API_ADDR = Setting(
    "XP_XRAY_API_ADDR", _Address(min_port=1), "127.0.0.1:10085", "xray's gRPC API address"
)
XRAY_HEALTH_INTERVAL_SECS = Setting(
    "XP_XRAY_HEALTH_INTERVAL_SECS", _Integer(1, 30), "2", "seconds between xray probes"
)
XRAY_HEALTH_FAILS_BEFORE_DOWN = Setting(
    "XP_XRAY_HEALTH_FAILS_BEFORE_DOWN",
    _FAILS,
    "3",
    "consecutive failed probes before xray is down",
)
XRAY_RESTART_MODE = Setting(
    "XP_XRAY_RESTART_MODE", _RESTART_MODES, "none", "how a restart of xray is requested"
)
XRAY_RESTART_COOLDOWN_SECS = Setting(
    "XP_XRAY_RESTART_COOLDOWN_SECS",
    _COOLDOWN,
    "30",
    "minimum gap between xray restart requests",
)
XRAY_RESTART_TIMEOUT_SECS = Setting(
    "XP_XRAY_RESTART_TIMEOUT_SECS",
    _SECS_60,
    "20",
    "an xray restart command running longer is killed and counts as failed",
)
XRAY_RESTART_BACKOFF_MAX_SECS = Setting(
    "XP_XRAY_RESTART_BACKOFF_MAX_SECS",
    _BACKOFF,
    "600",
    "cap of the backoff between xray restart requests; at least the cooldown",
)
XRAY_SYSTEMD_UNIT = Setting(
    "XP_XRAY_SYSTEMD_UNIT", _SYSTEMD_UNIT, "xray.service", "unit restarted in systemd mode"
)
XRAY_OPENRC_SERVICE = Setting(
    "XP_XRAY_OPENRC_SERVICE", _OPENRC_SERVICE, "xray", "service restarted in openrc mode"
)
XRAY_RESTART_COMMAND = Setting(
    "XP_XRAY_RESTART_COMMAND",
    _Argv(),
    None,
    "restart command for command mode (required there)",
)
CLOUDFLARED_HEALTH_INTERVAL_SECS = Setting(
    "XP_CLOUDFLARED_HEALTH_INTERVAL_SECS", _SECS_60, "5", "seconds between cloudflared probes"
)
CLOUDFLARED_HEALTH_FAILS_BEFORE_DOWN = Setting(
    "XP_CLOUDFLARED_HEALTH_FAILS_BEFORE_DOWN",
    _FAILS,
    "3",
    "consecutive failed probes before cloudflared is down",
)
CLOUDFLARED_RESTART_MODE = Setting(
    "XP_CLOUDFLARED_RESTART_MODE",
    _RESTART_MODES,
    "none",
    "how a restart of cloudflared is requested",
)
CLOUDFLARED_MONITOR_MODE = Setting(
    "XP_CLOUDFLARED_MONITOR_MODE",
    _enum_choice(CloudflaredMonitorMode),
    None,
    "how cloudflared is probed; none = not used on this node (disabled, never "
    "probed or restarted), which forbids a restart mode other than none",
    default_doc="the cloudflared restart mode",
)
CLOUDFLARED_RESTART_COOLDOWN_SECS = Setting(
    "XP_CLOUDFLARED_RESTART_COOLDOWN_SECS",
    _COOLDOWN,
    "30",
    "minimum gap between cloudflared restart requests",
)
CLOUDFLARED_RESTART_TIMEOUT_SECS = Setting(
    "XP_CLOUDFLARED_RESTART_TIMEOUT_SECS",
    _SECS_60,
    "20",
    "a cloudflared restart command running longer is killed and counts as failed",
)
CLOUDFLARED_RESTART_BACKOFF_MAX_SECS = Setting(
    "XP_CLOUDFLARED_RESTART_BACKOFF_MAX_SECS",
    _BACKOFF,
    "600",
    "cap of the backoff between cloudflared restart requests; at least the cooldown",
)
CLOUDFLARED_SYSTEMD_UNIT = Setting(
    "XP_CLOUDFLARED_SYSTEMD_UNIT",
    _SYSTEMD_UNIT,
    "cloudflared.service",
    "unit probed/restarted in systemd mode",
)
CLOUDFLARED_OPENRC_SERVICE = Setting(
    "XP_CLOUDFLARED_OPENRC_SERVICE",
    _OPENRC_SERVICE,
    "cloudflared",
    "service probed/restarted in openrc mode",
)
CLOUDFLARED_PROBE_COMMAND = Setting(
    "XP_CLOUDFLARED_PROBE_COMMAND",
    _Argv(),
    None,
    "probe for command monitor mode, exit status 0 = up (required there)",
)
CLOUDFLARED_RESTART_COMMAND = Setting(
    "XP_CLOUDFLARED_RESTART_COMMAND",
    _Argv(),
    None,
    "restart command for command mode (required there)",
)
CLOUDFLARED_METRICS_URL = Setting(
    "XP_CLOUDFLARED_METRICS_URL",
    _BaseUrl(),
    None,
    "cloudflared's metrics server for metrics monitor mode (required there); "
    "GET {url}/ready answering 200 = up",
)
LOG_LEVEL = Setting(
    "XP_LOG_LEVEL",
    _Choice(("debug", "info", "warning", "error"), str),
    "info",
    "lowest level logged",
)
LOG_FORMAT = Setting(
    "XP_LOG_FORMAT",
    _enum_choice(LogFormat),
    "text",
    "log record format, one line per record on stderr",
)

SETTINGS: tuple[Setting[Any], ...] = (
    BIND,
    DATA_DIR,
    NODE_ID,
    NODE_NAME,
    CLUSTER_FILE,
    CLUSTER_SECRET_FILE,
    CLUSTER_CA_FILE,
    ADMIN_TOKEN,
    RUNTIME_FANOUT_TIMEOUT_SECS,
    SSE_MAX_STREAMS,
    XRAY_API_ADDR,
    XRAY_HEALTH_INTERVAL_SECS,
    XRAY_HEALTH_FAILS_BEFORE_DOWN,
    XRAY_RESTART_MODE,
    XRAY_RESTART_COOLDOWN_SECS,
    XRAY_RESTART_TIMEOUT_SECS,
    XRAY_RESTART_BACKOFF_MAX_SECS,
    XRAY_SYSTEMD_UNIT,
    XRAY_OPENRC_SERVICE,
    XRAY_RESTART_COMMAND,
    CLOUDFLARED_HEALTH_INTERVAL_SECS,
    CLOUDFLARED_HEALTH_FAILS_BEFORE_DOWN,
    CLOUDFLARED_RESTART_MODE,
    CLOUDFLARED_MONITOR_MODE,
    CLOUDFLARED_RESTART_COOLDOWN_SECS,
    CLOUDFLARED_RESTART_TIMEOUT_SECS,
    CLOUDFLARED_RESTART_BACKOFF_MAX_SECS,
    CLOUDFLARED_SYSTEMD_UNIT,
    CLOUDFLARED_OPENRC_SERVICE,
    CLOUDFLARED_PROBE_COMMAND,
    CLOUDFLARED_RESTART_COMMAND,
    CLOUDFLARED_METRICS_URL,
    LOG_LEVEL,
    LOG_FORMAT,
)
"""Every `XP_*` setting, in the order of CONTRACT §1."""

_BY_NAME = {setting.name: setting for setting in SETTINGS}


# --- flags -----------------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting to `parser` (dest = the variable's name, default None)."""
    group = parser.add_argument_group(
        "settings", "Each flag overrides the environment variable named in its help."
    )
    for setting in SETTINGS:
        # argparse expands '%' in help text.
        help_text = (
            f"{setting.help} [{setting.name}; default: {setting.default_text}; "
            f"allowed: {setting.allowed}]"
        ).replace("%", "%%")
        group.add_argument(
            setting.flag,
            dest=setting.name,
            default=None,
            metavar="VALUE",
            help=help_text,
        )


def flags_from_namespace(namespace: argparse.Namespace) -> dict[str, str | None]:
    """The flags `add_run_arguments` parsed, keyed by variable name, for `load_settings`."""
    return {setting.name: getattr(namespace, setting.name, None) for setting in SETTINGS}


# --- loading ---------------------------------------------------------------------


class _Raw:
    """The chosen raw value of each setting: a given flag, else the environment."""

    def __init__(self, flags: Mapping[str, str | None], env: Mapping[str, str]) -> None:
        unknown = sorted(set(flags) - set(_BY_NAME))
        if unknown:
            raise KeyError(f"not a setting: {', '.join(unknown)}")
        self._values: dict[str, str] = {}
        for name in _BY_NAME:
            flag = flags.get(name)
            value = flag if flag is not None else env.get(name)
            if value:  # empty means unset
                self._values[name] = value

    def given(self, setting: Setting[Any]) -> bool:
        return setting.name in self._values

    def get(self, setting: Setting[T]) -> T | None:
        """The value of `setting`, its default when unset, None when it has neither."""
        raw = self._values.get(setting.name, setting.default)
        if raw is None:
            return None
        try:
            return setting.kind.parse(raw)
        except _Invalid as exc:
            shown = " (value hidden)" if setting.secret else f"={_show(raw)}"
            raise ConfigError(f"{setting.name}{shown} {exc}") from None

    def value(self, setting: Setting[T]) -> T:
        """Like `get`, for a setting that has a default."""
        value = self.get(setting)
        assert value is not None, f"{setting.name} has no default"
        return value


def load_settings(
    flags: Mapping[str, str | None],
    env: Mapping[str, str],
    *,
    host_name: str | None = None,
    create_files: bool = True,
) -> LoadedSettings:
    """Check the settings from `flags` (keyed by variable name) over `env`.

    `host_name` is the default node name's source, read from the system when None.
    Creates `XP_DATA_DIR` and `${XP_DATA_DIR}/node_id` when needed. Raises
    ConfigError for the first problem; a KeyError when `flags` names no setting.

    With `create_files=False` (checking a node's settings without running it, as
    `xpagent ops render` does) nothing is created: a node id that would be
    generated is `NODE_ID_NOT_CREATED` instead.
    """
    raw = _Raw(flags, env)
    for setting in SETTINGS:  # each value on its own first, in table order
        raw.get(setting)
    warnings = [
        f"{name} is not a known setting; ignored"
        for name in sorted(env)
        if name.startswith("XP_") and name not in _BY_NAME
    ]

    bind = raw.value(BIND)
    data_dir = raw.value(DATA_DIR)
    explicit_node_id = raw.get(NODE_ID)
    explicit_node_name = raw.get(NODE_NAME)
    cluster_file = raw.get(CLUSTER_FILE)
    secret_file = raw.get(CLUSTER_SECRET_FILE)
    ca_file = raw.get(CLUSTER_CA_FILE)
    admin_token = raw.get(ADMIN_TOKEN) or ""
    fanout_timeout = raw.value(RUNTIME_FANOUT_TIMEOUT_SECS)
    sse_max_streams = raw.value(SSE_MAX_STREAMS)
    xray_api_addr = raw.value(XRAY_API_ADDR)
    xray = _xray_settings(raw, warnings)
    cloudflared = _cloudflared_settings(raw, warnings)
    log_level = raw.value(LOG_LEVEL)
    log_format = raw.value(LOG_FORMAT)

    if not admin_token and not is_loopback_host(bind.host):
        raise ConfigError(
            f"XP_ADMIN_TOKEN is empty, which is allowed only when XP_BIND is a loopback "
            f"address, and XP_BIND={_show(bind.netloc)} is not"
        )

    listed: tuple[ClusterNode, ...] | None = None
    if cluster_file is not None:
        listed = _read_cluster_file(cluster_file)
        explicit_node_id = _listed_node_id(explicit_node_id, cluster_file, listed)
    if ca_file is not None:
        _check_ca_file(ca_file)
    cluster_secret = _read_secret(secret_file, 1 if listed is None else len(listed), warnings)

    if create_files:
        _make_data_dir(data_dir)
        node_id = explicit_node_id or _persistent_node_id(data_dir)
    else:
        node_id = explicit_node_id or NODE_ID_NOT_CREATED
    cluster: tuple[ClusterNode, ...]
    if listed is None:
        node_name = explicit_node_name or _host_node_name(host_name, node_id)
        cluster = (ClusterNode(node_id, node_name, f"http://{bind.netloc}"),)
    else:
        entry = next(node for node in listed if node.node_id == node_id)
        node_name = explicit_node_name or entry.node_name
        cluster = listed

    settings = Settings(
        bind_host=bind.host,
        bind_port=bind.port,
        data_dir=data_dir,
        node_id=node_id,
        node_name=node_name,
        cluster=cluster,
        cluster_secret=cluster_secret,
        cluster_ca_file=ca_file,
        admin_token=admin_token,
        runtime_fanout_timeout_secs=fanout_timeout,
        sse_max_streams=sse_max_streams,
        xray_api_addr=xray_api_addr.netloc,
        xray=xray,
        cloudflared=cloudflared,
        log_level=log_level,
        log_format=log_format,
    )
    return LoadedSettings(settings, tuple(warnings))


def _check_backoff(raw: _Raw, cooldown: Setting[int], backoff: Setting[int]) -> None:
    if raw.value(backoff) < raw.value(cooldown):
        raise ConfigError(
            f"{backoff.name}={raw.value(backoff)} is less than "
            f"{cooldown.name}={raw.value(cooldown)}; it must be at least the cooldown"
        )


def _restart_command(
    raw: _Raw, mode_setting: Setting[RestartMode], command: Setting[tuple[str, ...]]
) -> tuple[str, ...] | None:
    mode = raw.value(mode_setting)
    argv = raw.get(command)
    if mode is RestartMode.COMMAND and argv is None:
        raise ConfigError(f"{command.name} is required when {mode_setting.name}=command")
    return argv


def _unused(raw: _Raw, setting: Setting[Any], because: str, warnings: list[str]) -> None:
    if raw.given(setting):
        warnings.append(f"{setting.name} is set but ignored because {because}")


def _supervision(raw: _Raw, component: str) -> dict[str, Any]:
    """The settings xray and cloudflared share (`XP_{COMPONENT}_…`), as
    `ComponentSettings` fields; the backoff is checked against the cooldown first."""

    def setting(suffix: str) -> Setting[Any]:
        return _BY_NAME[f"XP_{component}_{suffix}"]

    _check_backoff(raw, setting("RESTART_COOLDOWN_SECS"), setting("RESTART_BACKOFF_MAX_SECS"))
    return {
        "health_interval_secs": raw.value(setting("HEALTH_INTERVAL_SECS")),
        "fails_before_down": raw.value(setting("HEALTH_FAILS_BEFORE_DOWN")),
        "restart_mode": raw.value(setting("RESTART_MODE")),
        "restart_cooldown_secs": raw.value(setting("RESTART_COOLDOWN_SECS")),
        "restart_timeout_secs": raw.value(setting("RESTART_TIMEOUT_SECS")),
        "restart_backoff_max_secs": raw.value(setting("RESTART_BACKOFF_MAX_SECS")),
        "systemd_unit": raw.value(setting("SYSTEMD_UNIT")),
        "openrc_service": raw.value(setting("OPENRC_SERVICE")),
        "restart_command": _restart_command(
            raw, setting("RESTART_MODE"), setting("RESTART_COMMAND")
        ),
    }


def _xray_settings(raw: _Raw, warnings: list[str]) -> ComponentSettings:
    common = _supervision(raw, "XRAY")
    mode = common["restart_mode"]
    if mode is not RestartMode.COMMAND:
        _unused(raw, XRAY_RESTART_COMMAND, f"XP_XRAY_RESTART_MODE={mode}", warnings)
    return ComponentSettings(**common)


def _cloudflared_settings(raw: _Raw, warnings: list[str]) -> ComponentSettings:
    common = _supervision(raw, "CLOUDFLARED")
    restart_mode = common["restart_mode"]
    monitor_mode = raw.get(CLOUDFLARED_MONITOR_MODE)
    monitor_shown = f"XP_CLOUDFLARED_MONITOR_MODE={monitor_mode}"
    if monitor_mode is None:
        monitor_mode = CloudflaredMonitorMode(restart_mode.value)
        monitor_shown = (
            f"XP_CLOUDFLARED_MONITOR_MODE is {monitor_mode} "
            f"(by default, as XP_CLOUDFLARED_RESTART_MODE={restart_mode})"
        )
    probe_command = raw.get(CLOUDFLARED_PROBE_COMMAND)
    metrics_url = raw.get(CLOUDFLARED_METRICS_URL)
    if monitor_mode is CloudflaredMonitorMode.NONE and restart_mode is not RestartMode.NONE:
        raise ConfigError(
            f"XP_CLOUDFLARED_RESTART_MODE={restart_mode} needs cloudflared to be monitored, "
            f"but XP_CLOUDFLARED_MONITOR_MODE=none"
        )
    if monitor_mode is CloudflaredMonitorMode.COMMAND and probe_command is None:
        raise ConfigError(f"XP_CLOUDFLARED_PROBE_COMMAND is required when {monitor_shown}")
    if monitor_mode is CloudflaredMonitorMode.METRICS and metrics_url is None:
        raise ConfigError(
            "XP_CLOUDFLARED_METRICS_URL is required when XP_CLOUDFLARED_MONITOR_MODE=metrics"
        )
    if restart_mode is not RestartMode.COMMAND:
        _unused(
            raw,
            CLOUDFLARED_RESTART_COMMAND,
            f"XP_CLOUDFLARED_RESTART_MODE={restart_mode}",
            warnings,
        )
    if monitor_mode is not CloudflaredMonitorMode.COMMAND:
        _unused(raw, CLOUDFLARED_PROBE_COMMAND, monitor_shown, warnings)
    if monitor_mode is not CloudflaredMonitorMode.METRICS:
        _unused(raw, CLOUDFLARED_METRICS_URL, monitor_shown, warnings)
    return ComponentSettings(
        **common,
        monitor_mode=monitor_mode,
        probe_command=probe_command,
        metrics_url=metrics_url,
    )


def _os_reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def _read_bounded(path: Path, limit: int) -> bytes | None:
    """The bytes of the file at `path`, or None when it holds more than `limit`;
    raises OSError. Bounded, so a wrong path (a log, /dev/zero) cannot exhaust memory."""
    with path.open("rb") as file:
        data = file.read(limit + 1)
    return None if len(data) > limit else data


def _parser_failure(exc: Exception) -> str:
    """What a parser refused, in one line: a decode error's own message, otherwise
    the exception's class and the first clause of its message."""
    if not isinstance(exc, tomllib.TOMLDecodeError):
        exc_text = str(exc).split(":")[0]
        text = f"{exc.__class__.__name__}: {exc_text}" if exc_text else exc.__class__.__name__
    else:
        text = str(exc)
    return _shorten(" ".join(text.split()))


# --- the cluster file --------------------------------------------------------------

_NODE_FIELDS = ("node_id", "node_name", "api_base_url")
_OPTIONAL_NODE_FIELDS = ("access_host",)


def _toml_type(value: object) -> str:
    """What a TOML value is, with its article: 'an integer'."""
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        dict: "a table",
        list: "an array",
    }
    return names.get(type(value), "a date/time")


def _read_cluster_file(path: Path) -> tuple[ClusterNode, ...]:
    """The cluster file's nodes; raises ConfigError (one line naming the file, and
    the entry and field at fault where there is one) for any problem at all."""

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"XP_CLUSTER_FILE {_show_path(path)}: {' '.join(problem.split())}")

    try:
        data = _read_bounded(path, MAX_CLUSTER_FILE_BYTES)
    except OSError as exc:
        raise fail(f"cannot be read ({_os_reason(exc)})") from None
    if data is None:
        raise fail(f"is larger than {MAX_CLUSTER_FILE_BYTES // 2**20} MiB")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise fail("is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"is not valid TOML ({exc})") from None
    except Exception as exc:  # the parser refuses some input with other exceptions
        raise fail(f"is not valid TOML ({_parser_failure(exc)})") from None
    try:
        return _cluster_nodes(document, fail)
    except ConfigError:
        raise
    except Exception as exc:  # a check that did not expect such a value: still the file's fault
        raise fail(f"cannot be used ({_parser_failure(exc)})") from None


def _cluster_nodes(
    document: dict[str, Any], fail: Callable[[str], ConfigError]
) -> tuple[ClusterNode, ...]:
    """The `[[nodes]]` entries of a parsed cluster file, checked."""
    unknown = sorted(key for key in document if key != "nodes")
    if unknown:
        raise fail(
            f"unknown top-level key {_quote(unknown[0])}; only [[nodes]] entries are allowed"
        )
    entries = document.get("nodes")
    if entries is None or entries == []:
        raise fail("lists no nodes; add [[nodes]] entries")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise fail("'nodes' must be an array of tables, written as [[nodes]] entries")

    nodes: list[ClusterNode] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        node = _cluster_node(entry, index, fail)
        if node.node_id in first_index:
            raise fail(
                f"nodes[{index}] ({node.node_id}): duplicate node_id, already used by "
                f"nodes[{first_index[node.node_id]}]"
            )
        first_index[node.node_id] = index
        nodes.append(node)
    return tuple(nodes)


def _cluster_node(
    entry: dict[str, Any], index: int, fail: Callable[[str], ConfigError]
) -> ClusterNode:
    """The `[[nodes]]` entry at `index`; `fail` turns a problem into the file's error."""
    node_id = entry.get("node_id")
    where = f"nodes[{index}]"
    if isinstance(node_id, str) and _NODE_ID_RE.fullmatch(node_id):
        where += f" ({node_id})"

    def field_fail(problem: str) -> ConfigError:
        return fail(f"{where}: {problem}")

    unknown = sorted(set(entry) - set(_NODE_FIELDS) - set(_OPTIONAL_NODE_FIELDS))
    if unknown:
        raise field_fail(
            f"unknown field {_quote(unknown[0])} "
            f"(allowed: {', '.join((*_NODE_FIELDS, *_OPTIONAL_NODE_FIELDS))})"
        )
    values: dict[str, str] = {}
    for field in (*_NODE_FIELDS, *_OPTIONAL_NODE_FIELDS):
        if field not in entry:
            if field in _NODE_FIELDS:
                raise field_fail(f"missing field {field}")
            continue
        value = entry[field]
        if not isinstance(value, str):
            raise field_fail(f"{field} must be a string, not {_toml_type(value)}")
        values[field] = value

    if not _NODE_ID_RE.fullmatch(values["node_id"]):
        raise field_fail(f"node_id {_quote(values['node_id'])} is not {_NODE_ID.description}")
    name_problem = _name_problem(values["node_name"])
    if name_problem is not None:
        raise field_fail(f"node_name {_quote(values['node_name'])} {name_problem}")
    url_problem = _base_url_problem(values["api_base_url"])
    if url_problem is not None:
        raise field_fail(f"api_base_url {_quote(values['api_base_url'])} {url_problem}")
    access_host = values.get("access_host")
    if access_host is not None and (not access_host or not access_host.isprintable()):
        raise field_fail(f"access_host {_quote(access_host)} must be non-empty printable text")
    return ClusterNode(
        node_id=values["node_id"],
        node_name=values["node_name"],
        api_base_url=values["api_base_url"].removesuffix("/"),
        access_host=access_host,
    )


def _listed_node_id(node_id: str | None, path: Path, cluster: tuple[ClusterNode, ...]) -> str:
    """`node_id` (XP_NODE_ID), which a cluster file requires to be one of its entries."""
    listed = ", ".join(node.node_id for node in cluster)
    if node_id is None:
        raise ConfigError(
            f"XP_NODE_ID is required with XP_CLUSTER_FILE {_show_path(path)} (one of: {listed})"
        )
    if all(node.node_id != node_id for node in cluster):
        raise ConfigError(
            f"XP_NODE_ID={node_id} is not listed in XP_CLUSTER_FILE {_show_path(path)} "
            f"(listed: {listed})"
        )
    return node_id


# --- other files -------------------------------------------------------------------


def _read_secret(path: Path | None, cluster_size: int, warnings: list[str]) -> bytes | None:
    if path is None:
        if cluster_size > 1:
            raise ConfigError(
                f"XP_CLUSTER_SECRET_FILE is required when the cluster has more than one "
                f"node (XP_CLUSTER_FILE lists {cluster_size})"
            )
        return None
    shown = f"XP_CLUSTER_SECRET_FILE={_show_path(path)}"
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            # Bounded, so a mistaken path such as /dev/urandom cannot hang startup.
            content = file.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{shown} cannot be read ({_os_reason(exc)})") from None
    if len(content) > MAX_SECRET_FILE_BYTES:
        raise ConfigError(f"{shown} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    secret = content.strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{shown} holds {len(secret)} bytes once surrounding whitespace is stripped; "
            f"at least {MIN_SECRET_BYTES} are required"
        )
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(
            f"{shown} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            f"restrict it with chmod 600"
        )
    return secret


def _check_ca_file(path: Path) -> None:
    shown = f"XP_CLUSTER_CA_FILE={_show_path(path)}"
    try:
        path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{shown} cannot be read ({_os_reason(exc)})") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError):
        raise ConfigError(f"{shown} holds no usable PEM certificates") from None


def _make_data_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"XP_DATA_DIR={_show_path(path)} cannot be created ({_os_reason(exc)})"
        ) from None


def _persistent_node_id(data_dir: Path) -> str:
    """The id kept in `${XP_DATA_DIR}/node_id`, generated and written on first use."""
    path = data_dir / NODE_ID_FILE_NAME
    shown = f"node id file {_show_path(path)} (in XP_DATA_DIR)"
    try:
        data = _read_bounded(path, MAX_NODE_ID_FILE_BYTES)
        text = None if data is None else data.decode("utf-8").strip()
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        reason = _os_reason(exc) if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{shown} cannot be read ({reason})") from None
    else:
        if text is None:
            raise ConfigError(
                f"{shown} is larger than {MAX_NODE_ID_FILE_BYTES} bytes, which no node id "
                f"needs; fix or remove it"
            )
        if _NODE_ID_RE.fullmatch(text) is None:
            raise ConfigError(
                f"{shown} holds {_show(text)}, which is not {_NODE_ID.description}; "
                f"fix or remove it"
            )
        return text

    node_id = str(ULID())
    # Written aside and renamed, so a crash never leaves a half-written id behind.
    temp = data_dir / f".{NODE_ID_FILE_NAME}.{os.getpid()}.tmp"
    try:
        with temp.open("w", encoding="ascii") as file:
            file.write(node_id + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ConfigError(f"{shown} cannot be written ({_os_reason(exc)})") from None
    return node_id


def _host_node_name(host_name: str | None, node_id: str) -> str:
    name = (socket.gethostname() if host_name is None else host_name)[:NAME_MAX_CHARS]
    return name if _name_problem(name) is None else node_id
