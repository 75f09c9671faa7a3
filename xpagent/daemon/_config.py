"""Turning `XP_*` environment variables and `xpagent run` flags into `Settings`.

`SETTINGS` is the one table of every variable in CONTRACT §1: its name, the
matching flag (`XP_FOO_BAR` ↔ `--foo-bar`), its default, what values it allows,
what it means and which field of `Settings` it fills. The rows of a supervised
component (`XP_XRAY_*`, `XP_CLOUDFLARED_*`) come from one function,
`_component_rows`, and what differs between components from one row each of
`COMPONENT_DEFAULTS`. Everything else is derived from the table: the flags and
`xpagent run --help` (`add_run_arguments`), the checks (`load_settings`), and the
env template and docs/configuration.md (`xpagent.ops`, from `settings_groups`).
Adding a setting is one row here and one field in `_settings.py`; what values
each kind of setting may take is `_kinds.py`'s.

How a value is chosen: a flag that was given wins over the environment; an empty
value (from either) means "not set", so the default applies. `load_settings`
checks every value, builds `Settings` from the rows' fields, applying the rules
between values (the only code that knows particular settings), then reads the
files the settings name (cluster file, secret, CA file) and finally creates
`XP_DATA_DIR` and, when needed, `${XP_DATA_DIR}/node_id`. A bad configuration
therefore leaves nothing behind on disk.

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
variable — with the closest setting's name —, a setting that the chosen mode
ignores) come back in `LoadedSettings.warnings`. Neither ever contains the
cluster secret or the admin token.
"""

from __future__ import annotations

import argparse
import difflib
import enum
import os
import socket
import ssl
import stat
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import attrs
from ulid import ULID

from xpagent.core import Component

from . import _kinds as kinds
from ._kinds import NAME_MAX_CHARS
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
    "COMPONENT_DEFAULTS",
    "NODE_ID_FILE_NAME",
    "NODE_ID_NOT_CREATED",
    "SETTINGS",
    "ComponentDefaults",
    "ConfigError",
    "LoadedSettings",
    "Setting",
    "SettingsGroup",
    "add_run_arguments",
    "flags_from_namespace",
    "load_settings",
    "settings_groups",
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

T = TypeVar("T")


class ConfigError(ValueError):
    """The configuration cannot be used; `str()` is one line saying what and why."""


@attrs.frozen
class LoadedSettings:
    """What `load_settings` returns: the settings, and warnings for the log (one line each)."""

    settings: Settings
    warnings: tuple[str, ...] = ()


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


# --- the table -------------------------------------------------------------------


@attrs.frozen
class Setting(Generic[T]):
    """One `XP_*` setting: its name, kind, default (as text, None = unset), meaning,
    and the field it fills.

    `field` names the `Settings` field the value fills, or with `component` the
    field of that component's `ComponentSettings`; a setting without one is an
    input to the rules between values. `needed_when=(mode field, mode)` makes a
    component's setting required in that mode and ignored, with a warning, in the
    others. `default_doc` says what the default is when it is not a plain value
    (derived or generated). A `secret` setting's value never appears in messages.
    """

    name: str
    kind: kinds.Kind[T]
    default: str | None
    help: str
    field: str | None = None
    component: Component | None = None
    default_doc: str | None = None
    needed_when: tuple[str, enum.StrEnum] | None = None
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


@attrs.frozen
class ComponentDefaults:
    """What differs between the settings of two supervised components.

    With `chosen_probe`, `XP_{COMPONENT}_MONITOR_MODE` chooses how it is probed
    (and `none`, the default without a restart mode, leaves it unused); otherwise
    it has one fixed probe and is always monitored.
    """

    health_interval_secs: int
    max_health_interval_secs: int
    chosen_probe: bool

    def note(self, component: Component) -> str:
        """What the docs say under the component's settings."""
        if self.chosen_probe:
            return (
                f"With nothing set, {component} is not used on the node "
                "(monitor mode `none`: shown as `disabled`, never probed or restarted)."
            )
        return (
            f"{component} is always probed; its restart mode only decides whether the "
            "agent also restarts it."
        )


#: One row per supervised component, in CONTRACT §1's order.
COMPONENT_DEFAULTS: Mapping[Component, ComponentDefaults] = {
    Component.XRAY: ComponentDefaults(2, max_health_interval_secs=30, chosen_probe=False),
    Component.CLOUDFLARED: ComponentDefaults(5, max_health_interval_secs=60, chosen_probe=True),
}
_CHOSEN_PROBE_FIELDS = ("monitor_mode", "probe_command", "metrics_url")


def _component_rows(component: Component) -> tuple[Setting[Any], ...]:
    """The `XP_{COMPONENT}_…` settings of a supervised component, in CONTRACT §1's order."""
    defaults = COMPONENT_DEFAULTS[component]
    name = component.value
    probed = "probed/restarted" if defaults.chosen_probe else "restarted"

    def row(
        suffix: str, kind: kinds.Kind[Any], default: str | None, text: str, field: str, **more: Any
    ) -> Setting[Any]:
        return Setting(f"XP_{name.upper()}_{suffix}", kind, default, text, field, component, **more)

    # fmt: off
    rows = (
        row("HEALTH_INTERVAL_SECS", kinds.integer(1, defaults.max_health_interval_secs),
            str(defaults.health_interval_secs), f"seconds between {name} probes",
            "health_interval_secs"),
        row("HEALTH_FAILS_BEFORE_DOWN", kinds.integer(1, 10), "3",
            f"consecutive failed probes before {name} is down", "fails_before_down"),
        row("HEALTH_SUCCESSES_BEFORE_UP", kinds.integer(1, 10), "1",
            f"consecutive successful probes before a down {name} is up again "
            "(1 = the first success)", "successes_before_up"),
        row("RESTART_MODE", kinds.enum_choice(RestartMode), "none",
            f"how a restart of {name} is requested", "restart_mode"),
        row("MONITOR_MODE", kinds.enum_choice(CloudflaredMonitorMode), None,
            f"how {name} is probed; none = not used on this node (disabled, never probed or "
            "restarted), which forbids a restart mode other than none", "monitor_mode",
            default_doc=f"the {name} restart mode"),
        row("RESTART_COOLDOWN_SECS", kinds.integer(1, 3600), "30",
            f"minimum gap between {name} restart requests", "restart_cooldown_secs"),
        row("RESTART_TIMEOUT_SECS", kinds.integer(1, 60), "20",
            f"{name} restart commands running longer are killed and count as failed",
            "restart_timeout_secs"),
        row("RESTART_BACKOFF_MAX_SECS", kinds.integer(1, 86400), "600",
            f"cap of the backoff between {name} restart requests; at least the cooldown",
            "restart_backoff_max_secs"),
        row("SYSTEMD_UNIT", kinds.SYSTEMD_UNIT, f"{name}.service",
            f"unit {probed} in systemd mode", "systemd_unit"),
        row("OPENRC_SERVICE", kinds.OPENRC_SERVICE, name, f"service {probed} in openrc mode",
            "openrc_service"),
        row("PROBE_COMMAND", kinds.ARGV, None,
            "probe for command monitor mode, exit status 0 = up (required there)",
            "probe_command", needed_when=("monitor_mode", CloudflaredMonitorMode.COMMAND)),
        row("RESTART_COMMAND", kinds.ARGV, None,
            "restart command for command mode (required there)", "restart_command",
            needed_when=("restart_mode", RestartMode.COMMAND)),
        row("METRICS_URL", kinds.BASE_URL, None,
            f"{name}'s metrics server for metrics monitor mode (required there); "
            "GET {url}/ready answering 200 = up",
            "metrics_url", needed_when=("monitor_mode", CloudflaredMonitorMode.METRICS)),
    )
    # fmt: on
    return tuple(
        row for row in rows if defaults.chosen_probe or row.field not in _CHOSEN_PROBE_FIELDS
    )


# The inputs of the rules between values, named for `load_settings`; they fill no field.
# fmt: off
BIND = Setting("XP_BIND", kinds.address(min_port=0), "127.0.0.1:62416",
               "HTTP listen address; port 0 picks a free port (for tests)")
NODE_ID = Setting("XP_NODE_ID", kinds.NODE_ID, None,
                  "this node's id; required with XP_CLUSTER_FILE and one of its node_ids",
                  default_doc="generated once, kept in ${XP_DATA_DIR}/node_id")
NODE_NAME = Setting(
    "XP_NODE_NAME", kinds.checked(f"1..{NAME_MAX_CHARS} printable characters", kinds.name_problem),
    None, "this node's display name",
    default_doc="the node_name in XP_CLUSTER_FILE, else the host name (first 64 characters)")
CLUSTER_FILE = Setting("XP_CLUSTER_FILE", kinds.PATH, None,
                       "TOML file listing the cluster's nodes",
                       default_doc="unset: a cluster of this node alone")
CLUSTER_SECRET_FILE = Setting(
    "XP_CLUSTER_SECRET_FILE", kinds.PATH, None,
    "file holding the key for internal signatures (at least 32 bytes once surrounding "
    "whitespace is stripped); required when the cluster has more than one node")

# xray's data-plane probe (CONTRACT §6): xray's alone, shown under its other settings.
DATAPLANE_PROXY = Setting(
    "XP_XRAY_DATAPLANE_PROXY", kinds.PROXY_URL, None,
    "a SOCKS5 or HTTP inbound of xray kept on loopback for health checks; set = the "
    "data-plane probe is on, and xray is up only when its API and a request through "
    "this inbound both answer", "dataplane_proxy", Component.XRAY)
DATAPLANE_ROWS: tuple[Setting[Any], ...] = (
    DATAPLANE_PROXY,
    Setting("XP_XRAY_DATAPLANE_URL", kinds.URL, None,
            "fetched through XP_XRAY_DATAPLANE_PROXY (required with it); any 2xx answer "
            "passes", "dataplane_url", Component.XRAY,
            default_doc="unset (required with XP_XRAY_DATAPLANE_PROXY)"),
    Setting("XP_XRAY_DATAPLANE_INTERVAL_SECS", kinds.integer(1, 600), "30",
            "seconds between data-plane probes while they pass; a failing one is asked "
            "again every XP_XRAY_HEALTH_INTERVAL_SECS", "dataplane_interval_secs",
            Component.XRAY),
    Setting("XP_XRAY_DATAPLANE_RESTART", kinds.BOOLEAN, "false",
            "whether a data-plane failure alone requests a restart of xray (a dead "
            "upstream fails the probe too)", "dataplane_restart", Component.XRAY),
)

SETTINGS: tuple[Setting[Any], ...] = (
    BIND,
    Setting("XP_DATA_DIR", kinds.PATH, "./data", "state directory, created if missing",
            "data_dir"),
    NODE_ID,
    NODE_NAME,
    CLUSTER_FILE,
    CLUSTER_SECRET_FILE,
    Setting("XP_CLUSTER_CA_FILE", kinds.PATH, None,
            "PEM file of trust roots for peers' https:// base URLs", "cluster_ca_file",
            default_doc="the system trust store"),
    Setting("XP_ADMIN_TOKEN", kinds.TOKEN, None,
            "bearer token for /api/admin/*; may be empty only when XP_BIND is a loopback "
            "address (prefer the variable: a flag shows in the process list)", "admin_token",
            default_doc="empty", secret=True),
    Setting("XP_RUNTIME_FANOUT_TIMEOUT_SECS", kinds.integer(1, 60), "5",
            "deadline for one remote node in the aggregated runtime list",
            "runtime_fanout_timeout_secs"),
    Setting("XP_SSE_MAX_STREAMS", kinds.integer(1, 10000), "256",
            "concurrent SSE streams this node serves; beyond it new ones get 503",
            "sse_max_streams"),
    Setting("XP_XRAY_API_ADDR", kinds.NETLOC, "127.0.0.1:10085", "xray's gRPC API address",
            "api_addr", Component.XRAY),
    *(row for component in COMPONENT_DEFAULTS for row in _component_rows(component)),
    *DATAPLANE_ROWS,
    Setting("XP_LOG_LEVEL", kinds.choice(("debug", "info", "warning", "error"), str), "info",
            "lowest level logged", "log_level"),
    Setting("XP_LOG_FORMAT", kinds.enum_choice(LogFormat), "text",
            "log record format, one line per record on stderr", "log_format"),
)
# fmt: on
"""Every `XP_*` setting, in the order of CONTRACT §1."""

_BY_NAME = {setting.name: setting for setting in SETTINGS}


@attrs.frozen
class SettingsGroup:
    """A heading of the reference (and of `--help`) and the settings under it, in table order."""

    title: str
    settings: tuple[Setting[Any], ...]
    note: str | None = None


def settings_groups() -> tuple[SettingsGroup, ...]:
    """Every setting of `SETTINGS`, grouped: the node, the cluster, each component, logging."""

    def node_settings(prefix: str) -> tuple[Setting[Any], ...]:
        return tuple(s for s in SETTINGS if s.component is None and s.name.startswith(prefix))

    cluster, log = node_settings("XP_CLUSTER_"), node_settings("XP_LOG_")
    grouped = {setting.name for setting in (*cluster, *log)}
    return (
        SettingsGroup(
            "The node and its API",
            tuple(s for s in node_settings("XP_") if s.name not in grouped),
        ),
        SettingsGroup("The cluster", cluster),
        *(
            SettingsGroup(
                component.value,
                tuple(s for s in SETTINGS if s.component is component),
                defaults.note(component),
            )
            for component, defaults in COMPONENT_DEFAULTS.items()
        ),
        SettingsGroup("Logging", log),
    )


# --- flags -----------------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting to `parser` (dest = the variable's name, default None),
    grouped as the reference groups them."""
    for group in settings_groups():
        arguments = parser.add_argument_group(f"settings: {group.title}", group.note)
        for setting in group.settings:
            # argparse expands '%' in help text.
            help_text = (
                f"{setting.help} [{setting.name}; default: {setting.default_text}; "
                f"allowed: {setting.allowed}]"
            ).replace("%", "%%")
            arguments.add_argument(
                setting.flag, dest=setting.name, default=None, metavar="VALUE", help=help_text
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
        except kinds.Invalid as exc:
            shown = " (value hidden)" if setting.secret else f"={_show(raw)}"
            raise ConfigError(f"{setting.name}{shown} {exc}") from None

    def value(self, setting: Setting[T]) -> T:
        """Like `get`, for a setting that has a default."""
        value = self.get(setting)
        assert value is not None, f"{setting.name} has no default"
        return value


def _unknown_setting(name: str) -> str:
    """The warning for an `XP_*` variable that is no setting, naming the closest one."""
    closest = difflib.get_close_matches(name, _BY_NAME, n=1)
    return f"{name} is not a known setting; " + (
        f"did you mean {closest[0]}?" if closest else "ignored"
    )


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
        _unknown_setting(name)
        for name in sorted(env)
        if name.startswith("XP_") and name not in _BY_NAME
    ]
    fields: dict[str, Any] = {
        setting.field: raw.get(setting)
        for setting in SETTINGS
        if setting.field is not None and setting.component is None
    }
    fields["components"] = {
        component: _component_settings(raw, component, warnings) for component in COMPONENT_DEFAULTS
    }
    fields.update(_node_fields(raw, fields, warnings, host_name, create_files=create_files))
    return LoadedSettings(Settings(**fields), tuple(warnings))


def _component_settings(raw: _Raw, component: Component, warnings: list[str]) -> ComponentSettings:
    """The component's `ComponentSettings`: its rows' values, then the rules between them."""
    rows = {s.field: s for s in SETTINGS if s.component is component and s.field is not None}
    values: dict[str, Any] = {field: raw.get(setting) for field, setting in rows.items()}
    # How each value appears in the messages about it: `XP_XRAY_RESTART_MODE=command`.
    shown = {field: f"{setting.name}={values[field]}" for field, setting in rows.items()}
    if values["restart_backoff_max_secs"] < values["restart_cooldown_secs"]:
        raise ConfigError(
            f"{shown['restart_backoff_max_secs']} is less than "
            f"{shown['restart_cooldown_secs']}; it must be at least the cooldown"
        )

    def check_needed(mode_field: str) -> None:
        """The settings needed in one mode of `mode_field`: required there, else unused."""
        for setting in rows.values():
            if setting.field is None or setting.needed_when is None:
                continue
            needed_field, needed_mode = setting.needed_when
            if needed_field != mode_field:
                continue
            if values[mode_field] is not needed_mode:
                if raw.given(setting):
                    warnings.append(
                        f"{setting.name} is set but ignored because {shown[mode_field]}"
                    )
            elif values[setting.field] is None:
                raise ConfigError(f"{setting.name} is required when {shown[mode_field]}")

    check_needed("restart_mode")
    if "dataplane_proxy" in rows:
        _check_dataplane(raw, values, shown, warnings)
    monitor = rows.get("monitor_mode")
    if monitor is not None:
        restart_mode = values["restart_mode"]
        if values["monitor_mode"] is None:  # it follows the restart mode
            values["monitor_mode"] = CloudflaredMonitorMode(restart_mode.value)
            shown["monitor_mode"] = (
                f"{monitor.name} is {values['monitor_mode']} "
                f"(by default, as {shown['restart_mode']})"
            )
        if values["monitor_mode"] is CloudflaredMonitorMode.NONE and restart_mode != "none":
            raise ConfigError(
                f"{shown['restart_mode']} needs {component} to be monitored, "
                f"but {monitor.name}=none"
            )
        check_needed("monitor_mode")
    return ComponentSettings(**values)


def _check_dataplane(
    raw: _Raw, values: Mapping[str, Any], shown: Mapping[str, str], warnings: list[str]
) -> None:
    """The data-plane probe needs its URL once its proxy is set; without the proxy its
    other settings are unused."""
    if values["dataplane_proxy"] is None:
        for setting in DATAPLANE_ROWS:
            if raw.given(setting):
                warnings.append(
                    f"{setting.name} is set but ignored because {DATAPLANE_PROXY.name} is unset"
                )
    elif values["dataplane_url"] is None:
        raise ConfigError(f"XP_XRAY_DATAPLANE_URL is required when {shown['dataplane_proxy']}")


def _node_fields(
    raw: _Raw,
    fields: Mapping[str, Any],
    warnings: list[str],
    host_name: str | None,
    *,
    create_files: bool,
) -> dict[str, Any]:
    """The `Settings` fields no single setting fills: the rules between the node's settings,
    then the files they name."""
    bind = raw.value(BIND)
    if not fields["admin_token"] and not is_loopback_host(bind.host):
        raise ConfigError(
            f"XP_ADMIN_TOKEN is empty, which is allowed only when XP_BIND is a loopback "
            f"address, and XP_BIND={_show(bind.netloc)} is not"
        )
    node_id = raw.get(NODE_ID)
    cluster_file = raw.get(CLUSTER_FILE)
    listed: tuple[ClusterNode, ...] | None = None
    if cluster_file is not None:
        listed = _read_cluster_file(cluster_file)
        node_id = _listed_node_id(node_id, cluster_file, listed)
    if fields["cluster_ca_file"] is not None:
        _check_ca_file(fields["cluster_ca_file"])
    secret_file = raw.get(CLUSTER_SECRET_FILE)
    cluster_secret = _read_secret(secret_file, 1 if listed is None else len(listed), warnings)

    data_dir = fields["data_dir"]
    if create_files:
        _make_data_dir(data_dir)
        node_id = node_id or _persistent_node_id(data_dir)
    else:
        node_id = node_id or NODE_ID_NOT_CREATED
    node_name = raw.get(NODE_NAME)
    if listed is None:
        node_name = node_name or _host_node_name(host_name, node_id)
        listed = (ClusterNode(node_id, node_name, f"http://{bind.netloc}"),)
    else:
        node_name = node_name or next(n.node_name for n in listed if n.node_id == node_id)
    return {
        "bind_host": bind.host,
        "bind_port": bind.port,
        "admin_token": fields["admin_token"] or "",
        "node_id": node_id,
        "node_name": node_name,
        "cluster": listed,
        "cluster_secret": cluster_secret,
    }


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
    if isinstance(node_id, str) and kinds.NODE_ID_RE.fullmatch(node_id):
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

    if not kinds.NODE_ID_RE.fullmatch(values["node_id"]):
        raise field_fail(f"node_id {_quote(values['node_id'])} is not {kinds.NODE_ID.allowed}")
    name_problem = kinds.name_problem(values["node_name"])
    if name_problem is not None:
        raise field_fail(f"node_name {_quote(values['node_name'])} {name_problem}")
    url_problem = kinds.base_url_problem(values["api_base_url"])
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
        if kinds.NODE_ID_RE.fullmatch(text) is None:
            raise ConfigError(
                f"{shown} holds {_show(text)}, which is not {kinds.NODE_ID.allowed}; "
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
    return name if kinds.name_problem(name) is None else node_id
