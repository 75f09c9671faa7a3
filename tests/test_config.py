"""Configuration: `XP_*` variables and `xpagent run` flags become checked `Settings`."""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from pathlib import Path

import attrs
import pytest
import trustme

from xpagent.core import Component
from xpagent.daemon._config import (
    COMPONENT_DEFAULTS,
    NODE_ID_FILE_NAME,
    SETTINGS,
    ConfigError,
    LoadedSettings,
    add_run_arguments,
    flags_from_namespace,
    load_settings,
    settings_groups,
)
from xpagent.daemon._settings import (
    CloudflaredMonitorMode,
    ClusterNode,
    ComponentSettings,
    LogFormat,
    RestartMode,
    Settings,
)

SECRET = b"0123456789abcdef0123456789abcdef-cluster-key"
TOKEN = "t0ken-that-must-stay-hidden"
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
BIND_ALLOWED = "host:port with an IPv4, [IPv6] or named host and port 0..=65535"
NODE_ID_ALLOWED = "1..64 characters of [A-Za-z0-9_-], other than 'runtime'"
URL_ALLOWED = "(allowed: http(s)://host[:port])"
PROXY_ALLOWED = "(allowed: socks5://host:port or http://host:port)"

# CONTRACT §1, in its order: variable → default as written in the table of settings.
CONTRACT_DEFAULTS = {
    "XP_BIND": "127.0.0.1:62416",
    "XP_DATA_DIR": "./data",
    "XP_NODE_ID": None,
    "XP_NODE_NAME": None,
    "XP_CLUSTER_FILE": None,
    "XP_CLUSTER_SECRET_FILE": None,
    "XP_CLUSTER_CA_FILE": None,
    "XP_ADMIN_TOKEN": None,
    "XP_RUNTIME_FANOUT_TIMEOUT_SECS": "5",
    "XP_SSE_MAX_STREAMS": "256",
    "XP_XRAY_API_ADDR": "127.0.0.1:10085",
    "XP_XRAY_HEALTH_INTERVAL_SECS": "2",
    "XP_XRAY_HEALTH_FAILS_BEFORE_DOWN": "3",
    "XP_XRAY_HEALTH_SUCCESSES_BEFORE_UP": "1",
    "XP_XRAY_RESTART_MODE": "none",
    "XP_XRAY_RESTART_COOLDOWN_SECS": "30",
    "XP_XRAY_RESTART_TIMEOUT_SECS": "20",
    "XP_XRAY_RESTART_BACKOFF_MAX_SECS": "600",
    "XP_XRAY_SYSTEMD_UNIT": "xray.service",
    "XP_XRAY_OPENRC_SERVICE": "xray",
    "XP_XRAY_RESTART_COMMAND": None,
    "XP_CLOUDFLARED_HEALTH_INTERVAL_SECS": "5",
    "XP_CLOUDFLARED_HEALTH_FAILS_BEFORE_DOWN": "3",
    "XP_CLOUDFLARED_HEALTH_SUCCESSES_BEFORE_UP": "1",
    "XP_CLOUDFLARED_RESTART_MODE": "none",
    "XP_CLOUDFLARED_MONITOR_MODE": None,
    "XP_CLOUDFLARED_RESTART_COOLDOWN_SECS": "30",
    "XP_CLOUDFLARED_RESTART_TIMEOUT_SECS": "20",
    "XP_CLOUDFLARED_RESTART_BACKOFF_MAX_SECS": "600",
    "XP_CLOUDFLARED_SYSTEMD_UNIT": "cloudflared.service",
    "XP_CLOUDFLARED_OPENRC_SERVICE": "cloudflared",
    "XP_CLOUDFLARED_PROBE_COMMAND": None,
    "XP_CLOUDFLARED_RESTART_COMMAND": None,
    "XP_CLOUDFLARED_METRICS_URL": None,
    # CONTRACT §6: xray's data-plane probe.
    "XP_XRAY_DATAPLANE_PROXY": None,
    "XP_XRAY_DATAPLANE_URL": None,
    "XP_XRAY_DATAPLANE_INTERVAL_SECS": "30",
    "XP_XRAY_DATAPLANE_RESTART": "false",
    "XP_LOG_LEVEL": "info",
    "XP_LOG_FORMAT": "text",
}


def _integer_cases(name: str, low: int, high: int) -> list[tuple[str, str, str]]:
    allowed = f"{low}..={high}"
    return [
        (name, str(low - 1), f"{name}={low - 1} is out of range {allowed}"),
        (name, str(high + 1), f"{name}={high + 1} is out of range {allowed}"),
        (name, "ten", f"{name}=ten is not an integer in range {allowed}"),
    ]


# One or more bad values per variable whose check needs no files: (variable, value, message).
BAD_VALUES: list[tuple[str, str, str]] = [
    ("XP_BIND", "127.0.0.1:65536", "XP_BIND=127.0.0.1:65536 has port 65536 out of range 0..=65535"),
    ("XP_BIND", "localhost", f"XP_BIND=localhost is not host:port (allowed: {BIND_ALLOWED})"),
    ("XP_BIND", "::1:80", "XP_BIND=::1:80 has an IPv6 host without brackets; write [address]:port"),
    (
        "XP_BIND",
        "[::g]:80",
        f"XP_BIND=[::g]:80 has an invalid IPv6 address in brackets (allowed: {BIND_ALLOWED})",
    ),
    (
        "XP_BIND",
        "256.0.0.1:80",
        f"XP_BIND=256.0.0.1:80 has an invalid IPv4 address (allowed: {BIND_ALLOWED})",
    ),
    (
        "XP_BIND",
        "bad_host:80",
        f"XP_BIND=bad_host:80 has an invalid host name (allowed: {BIND_ALLOWED})",
    ),
    ("XP_BIND", ":80", f"XP_BIND=:80 has no host (allowed: {BIND_ALLOWED})"),
    (
        "XP_BIND",
        "127.0.0.1:http",
        f"XP_BIND=127.0.0.1:http has no valid port (allowed: {BIND_ALLOWED})",
    ),
    (
        "XP_BIND",
        "127.0.0.1:+80",
        f"XP_BIND=127.0.0.1:+80 has no valid port (allowed: {BIND_ALLOWED})",
    ),
    (
        "XP_NODE_ID",
        "node a",
        f"XP_NODE_ID='node a' is not {NODE_ID_ALLOWED}",
    ),
    (
        "XP_NODE_ID",
        "n" * 65,
        f"XP_NODE_ID={'n' * 65} is not {NODE_ID_ALLOWED}",
    ),
    ("XP_NODE_ID", "runtime", f"XP_NODE_ID=runtime is not {NODE_ID_ALLOWED}"),
    ("XP_NODE_NAME", "x" * 65, f"XP_NODE_NAME={'x' * 65} is not 1..64 characters long"),
    ("XP_NODE_NAME", "a\nb", "XP_NODE_NAME='a\\nb' contains control characters"),
    ("XP_NODE_NAME", "   ", "XP_NODE_NAME='   ' is blank"),
    (
        "XP_ADMIN_TOKEN",
        "has space",
        "XP_ADMIN_TOKEN (value hidden) contains characters other than visible ASCII "
        "characters, no spaces",
    ),
    *_integer_cases("XP_RUNTIME_FANOUT_TIMEOUT_SECS", 1, 60),
    *_integer_cases("XP_SSE_MAX_STREAMS", 1, 10000),
    (
        "XP_SSE_MAX_STREAMS",
        "9" * 30,
        f"XP_SSE_MAX_STREAMS={'9' * 30} is out of range 1..=10000",
    ),
    (
        "XP_XRAY_API_ADDR",
        "127.0.0.1:0",
        "XP_XRAY_API_ADDR=127.0.0.1:0 has port 0 out of range 1..=65535",
    ),
    *_integer_cases("XP_XRAY_HEALTH_INTERVAL_SECS", 1, 30),
    *_integer_cases("XP_XRAY_HEALTH_FAILS_BEFORE_DOWN", 1, 10),
    *_integer_cases("XP_XRAY_HEALTH_SUCCESSES_BEFORE_UP", 1, 10),
    (
        "XP_XRAY_RESTART_MODE",
        "reboot",
        "XP_XRAY_RESTART_MODE=reboot is not one of none|systemd|openrc|command",
    ),
    *_integer_cases("XP_XRAY_RESTART_COOLDOWN_SECS", 1, 3600),
    *_integer_cases("XP_XRAY_RESTART_TIMEOUT_SECS", 1, 60),
    *_integer_cases("XP_XRAY_RESTART_BACKOFF_MAX_SECS", 1, 86400),
    (
        "XP_XRAY_SYSTEMD_UNIT",
        "--now",
        "XP_XRAY_SYSTEMD_UNIT=--now is not a systemd unit name "
        "([A-Za-z0-9:_.\\@-], not starting with '-')",
    ),
    (
        "XP_XRAY_OPENRC_SERVICE",
        "x/y",
        "XP_XRAY_OPENRC_SERVICE=x/y is not an OpenRC service name "
        "([A-Za-z0-9_.-], not starting with '-')",
    ),
    (
        "XP_XRAY_RESTART_COMMAND",
        "systemctl restart 'xray",
        'XP_XRAY_RESTART_COMMAND="systemctl restart \'xray" is not a valid shell-quoted '
        "command line (No closing quotation)",
    ),
    (
        "XP_XRAY_RESTART_COMMAND",
        "  ",
        "XP_XRAY_RESTART_COMMAND='  ' is an empty command line",
    ),
    *_integer_cases("XP_CLOUDFLARED_HEALTH_INTERVAL_SECS", 1, 60),
    *_integer_cases("XP_CLOUDFLARED_HEALTH_FAILS_BEFORE_DOWN", 1, 10),
    *_integer_cases("XP_CLOUDFLARED_HEALTH_SUCCESSES_BEFORE_UP", 1, 10),
    (
        "XP_CLOUDFLARED_RESTART_MODE",
        "metrics",
        "XP_CLOUDFLARED_RESTART_MODE=metrics is not one of none|systemd|openrc|command",
    ),
    (
        "XP_CLOUDFLARED_MONITOR_MODE",
        "http",
        "XP_CLOUDFLARED_MONITOR_MODE=http is not one of none|systemd|openrc|command|metrics",
    ),
    *_integer_cases("XP_CLOUDFLARED_RESTART_COOLDOWN_SECS", 1, 3600),
    *_integer_cases("XP_CLOUDFLARED_RESTART_TIMEOUT_SECS", 1, 60),
    *_integer_cases("XP_CLOUDFLARED_RESTART_BACKOFF_MAX_SECS", 1, 86400),
    (
        "XP_CLOUDFLARED_SYSTEMD_UNIT",
        "cloud flared",
        "XP_CLOUDFLARED_SYSTEMD_UNIT='cloud flared' is not a systemd unit name "
        "([A-Za-z0-9:_.\\@-], not starting with '-')",
    ),
    (
        "XP_CLOUDFLARED_OPENRC_SERVICE",
        "-v",
        "XP_CLOUDFLARED_OPENRC_SERVICE=-v is not an OpenRC service name "
        "([A-Za-z0-9_.-], not starting with '-')",
    ),
    (
        "XP_CLOUDFLARED_PROBE_COMMAND",
        '"pgrep',
        "XP_CLOUDFLARED_PROBE_COMMAND='\"pgrep' is not a valid shell-quoted command line "
        "(No closing quotation)",
    ),
    (
        "XP_CLOUDFLARED_RESTART_COMMAND",
        "\t",
        "XP_CLOUDFLARED_RESTART_COMMAND='\\t' is an empty command line",
    ),
    (
        "XP_CLOUDFLARED_METRICS_URL",
        "ftp://127.0.0.1:2000",
        f"XP_CLOUDFLARED_METRICS_URL=ftp://127.0.0.1:2000 is not an http(s) URL {URL_ALLOWED}",
    ),
    (
        "XP_CLOUDFLARED_METRICS_URL",
        "http://127.0.0.1:2000/ready",
        "XP_CLOUDFLARED_METRICS_URL=http://127.0.0.1:2000/ready must not have a path, query "
        f"or fragment {URL_ALLOWED}",
    ),
    (
        "XP_CLOUDFLARED_METRICS_URL",
        "http://:2000",
        f"XP_CLOUDFLARED_METRICS_URL=http://:2000 has no host {URL_ALLOWED}",
    ),
    (
        "XP_CLOUDFLARED_METRICS_URL",
        "http://127.0.0.1:99999",
        f"XP_CLOUDFLARED_METRICS_URL=http://127.0.0.1:99999 is not a valid URL {URL_ALLOWED}",
    ),
    (
        "XP_CLOUDFLARED_METRICS_URL",
        "http://me:pw@127.0.0.1:2000",
        "XP_CLOUDFLARED_METRICS_URL=http://me:pw@127.0.0.1:2000 must not contain a user name "
        f"or password {URL_ALLOWED}",
    ),
    (
        "XP_XRAY_DATAPLANE_PROXY",
        "socks4://127.0.0.1:10808",
        "XP_XRAY_DATAPLANE_PROXY=socks4://127.0.0.1:10808 is not a socks5:// or http:// URL "
        f"{PROXY_ALLOWED}",
    ),
    (
        "XP_XRAY_DATAPLANE_PROXY",
        "socks5://127.0.0.1",
        f"XP_XRAY_DATAPLANE_PROXY=socks5://127.0.0.1 has no port {PROXY_ALLOWED}",
    ),
    (
        "XP_XRAY_DATAPLANE_PROXY",
        "http://127.0.0.1:10809/health",
        "XP_XRAY_DATAPLANE_PROXY=http://127.0.0.1:10809/health must not have a path, query or "
        f"fragment {PROXY_ALLOWED}",
    ),
    (
        "XP_XRAY_DATAPLANE_PROXY",
        "socks5://me:pw@127.0.0.1:10808",
        "XP_XRAY_DATAPLANE_PROXY=socks5://me:pw@127.0.0.1:10808 must not contain a user name "
        f"or password {PROXY_ALLOWED}",
    ),
    (
        "XP_XRAY_DATAPLANE_URL",
        "www.gstatic.com/generate_204",
        "XP_XRAY_DATAPLANE_URL=www.gstatic.com/generate_204 is not an http(s) URL "
        "(allowed: an http(s):// URL)",
    ),
    (
        "XP_XRAY_DATAPLANE_URL",
        "https://bad_host/generate_204",
        "XP_XRAY_DATAPLANE_URL=https://bad_host/generate_204 has an invalid host name "
        "(allowed: an http(s):// URL)",
    ),
    *_integer_cases("XP_XRAY_DATAPLANE_INTERVAL_SECS", 1, 600),
    ("XP_XRAY_DATAPLANE_RESTART", "yes", "XP_XRAY_DATAPLANE_RESTART=yes is not one of true|false"),
    ("XP_LOG_LEVEL", "verbose", "XP_LOG_LEVEL=verbose is not one of debug|info|warning|error"),
    ("XP_LOG_FORMAT", "xml", "XP_LOG_FORMAT=xml is not one of text|json"),
]

# Variables whose bad values are files: checked in the file tests below.
FILE_VARIABLES = {
    "XP_DATA_DIR",
    "XP_CLUSTER_FILE",
    "XP_CLUSTER_SECRET_FILE",
    "XP_CLUSTER_CA_FILE",
}


def _load(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    flags: dict[str, str | None] | None = None,
) -> LoadedSettings:
    full_env = {"XP_DATA_DIR": str(tmp_path / "data"), **(env or {})}
    return load_settings(flags or {}, full_env, host_name="test-host")


def _error(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    flags: dict[str, str | None] | None = None,
) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, env, flags)
    message = str(info.value)
    assert "\n" not in message
    return message


def _write_secret(tmp_path: Path, content: bytes = SECRET, mode: int = 0o600) -> Path:
    path = tmp_path / "cluster.secret"
    path.write_bytes(content)
    path.chmod(mode)
    return path


def _node_toml(node_id: str, url: str | None = None) -> str:
    url = url or f"http://{node_id}.internal:62416"
    return (
        f'[[nodes]]\nnode_id = "{node_id}"\nnode_name = "{node_id} name"\napi_base_url = "{url}"\n'
    )


def _cluster_env(tmp_path: Path, toml: str, node_id: str = "node-a") -> dict[str, str]:
    path = tmp_path / "cluster.toml"
    path.write_text(toml, encoding="utf-8")
    return {
        "XP_CLUSTER_FILE": str(path),
        "XP_NODE_ID": node_id,
        "XP_CLUSTER_SECRET_FILE": str(_write_secret(tmp_path)),
    }


THREE_NODES = _node_toml("node-a") + _node_toml("node-b") + _node_toml("node-c")


# --- the table and the flags ---------------------------------------------------------


def test_table_lists_exactly_the_contract_variables_in_order():
    """The table of settings holds every variable of CONTRACT §1, in its order, and no other."""
    assert [setting.name for setting in SETTINGS] == list(CONTRACT_DEFAULTS)


def test_table_defaults_match_the_contract():
    """Each setting's literal default is the contract's (derived ones have none)."""
    assert {setting.name: setting.default for setting in SETTINGS} == CONTRACT_DEFAULTS


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_each_variable_has_its_flag(setting):
    """`XP_FOO_BAR` is `--foo-bar`, and the parsed flag comes back keyed by the variable."""
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    expected_flag = "--" + setting.name[3:].lower().replace("_", "-")
    assert setting.flag == expected_flag
    flags = flags_from_namespace(parser.parse_args([expected_flag, "v"]))
    assert flags == {other.name: ("v" if other is setting else None) for other in SETTINGS}


def test_help_names_every_variable_and_port_zero():
    """`--help` names each variable beside its flag and says XP_BIND may use port 0."""
    parser = argparse.ArgumentParser(prog="xpagent run")
    add_run_arguments(parser)
    text = " ".join(parser.format_help().split())
    for setting in SETTINGS:
        assert setting.flag in text
        assert setting.name in text
    assert "port 0 picks a free port" in text


def test_every_variable_has_a_bad_value_case():
    """Every variable is covered by the bad-value table or by the file tests."""
    covered = {name for name, _, _ in BAD_VALUES} | FILE_VARIABLES
    assert covered == {setting.name for setting in SETTINGS}


def test_every_row_fills_a_field_of_settings():
    """Each row names a field of `Settings` (or of its component's `ComponentSettings`),
    and no field is filled twice."""
    node_fields = [s.field for s in SETTINGS if s.component is None and s.field is not None]
    assert set(node_fields) <= {field.name for field in attrs.fields(Settings)}
    assert len(node_fields) == len(set(node_fields))
    for component in COMPONENT_DEFAULTS:
        fields = [s.field for s in SETTINGS if s.component is component]
        assert set(fields) <= {field.name for field in attrs.fields(ComponentSettings)}
        assert len(fields) == len(set(fields))


def test_component_rows_share_one_shape():
    """xray's and cloudflared's rows are the same list, cloudflared's adding the probe
    choice, and each row is named after its component."""

    def suffixes(component: Component) -> list[str]:
        prefix = f"XP_{component.upper()}_"
        rows = [s for s in SETTINGS if s.component is component]
        assert all(s.name.startswith(prefix) for s in rows)
        return [s.name.removeprefix(prefix) for s in rows]

    chosen_probe = {"MONITOR_MODE", "PROBE_COMMAND", "METRICS_URL"}
    cloudflared = suffixes(Component.CLOUDFLARED)
    data_plane = [
        "DATAPLANE_PROXY",
        "DATAPLANE_URL",
        "DATAPLANE_INTERVAL_SECS",
        "DATAPLANE_RESTART",
    ]
    assert suffixes(Component.XRAY) == [
        "API_ADDR",
        *(suffix for suffix in cloudflared if suffix not in chosen_probe),
        *data_plane,  # CONTRACT §6: xray's alone
    ]


def test_settings_are_keyed_by_component(tmp_path):
    """`Settings.components` holds each supervised component's settings."""
    settings = _load(tmp_path, {"XP_XRAY_API_ADDR": "[::1]:10085"}).settings
    assert settings.components == {
        Component.XRAY: settings.xray,
        Component.CLOUDFLARED: settings.cloudflared,
    }
    assert settings.xray.api_addr == settings.xray_api_addr == "[::1]:10085"


def test_help_groups_the_flags_as_the_reference_does():
    """`--help` shows one group per heading of the reference, each with its flags."""
    parser = argparse.ArgumentParser(prog="xpagent run")
    add_run_arguments(parser)
    text = parser.format_help()
    for group in settings_groups():
        section = text.split(f"settings: {group.title}:", 1)[1]
        for setting in group.settings:
            assert setting.flag in section


# --- values --------------------------------------------------------------------------


def test_defaults(tmp_path):
    """With no flags and no variables, every setting takes the contract's default."""
    loaded = _load(tmp_path)  # XP_DATA_DIR aside: its default is checked below
    settings = loaded.settings
    assert loaded.warnings == ()
    assert (settings.bind_host, settings.bind_port) == ("127.0.0.1", 62416)
    assert settings.data_dir == tmp_path / "data"
    assert NODE_ID_PATTERN.fullmatch(settings.node_id)
    assert settings.node_name == "test-host"
    assert settings.cluster == (
        ClusterNode(settings.node_id, "test-host", "http://127.0.0.1:62416"),
    )
    assert settings.cluster_secret is None
    assert settings.cluster_ca_file is None
    assert settings.admin_token == ""
    assert settings.runtime_fanout_timeout_secs == 5
    assert settings.sse_max_streams == 256
    assert settings.xray_api_addr == "127.0.0.1:10085"
    xray = settings.xray
    assert (xray.health_interval_secs, xray.fails_before_down) == (2, 3)
    assert xray.successes_before_up == 1
    assert xray.restart_mode is RestartMode.NONE
    assert (xray.restart_cooldown_secs, xray.restart_timeout_secs) == (30, 20)
    assert xray.restart_backoff_max_secs == 600
    assert (xray.systemd_unit, xray.openrc_service) == ("xray.service", "xray")
    assert xray.restart_command is None
    assert xray.monitor_mode is None
    assert xray.enabled
    cloudflared = settings.cloudflared
    assert (cloudflared.health_interval_secs, cloudflared.fails_before_down) == (5, 3)
    assert cloudflared.successes_before_up == 1
    assert cloudflared.restart_mode is RestartMode.NONE
    assert cloudflared.monitor_mode is CloudflaredMonitorMode.NONE
    assert not cloudflared.enabled
    assert (cloudflared.restart_cooldown_secs, cloudflared.restart_timeout_secs) == (30, 20)
    assert cloudflared.restart_backoff_max_secs == 600
    assert cloudflared.systemd_unit == "cloudflared.service"
    assert cloudflared.openrc_service == "cloudflared"
    assert (cloudflared.probe_command, cloudflared.restart_command) == (None, None)
    assert cloudflared.metrics_url is None
    assert settings.log_level == "info"
    assert settings.log_format is LogFormat.TEXT


def test_successes_before_up_is_set_per_component(tmp_path):
    """XP_{COMPONENT}_HEALTH_SUCCESSES_BEFORE_UP sets that component's recovery count alone."""
    env = {
        "XP_XRAY_HEALTH_SUCCESSES_BEFORE_UP": "3",
        "XP_CLOUDFLARED_HEALTH_SUCCESSES_BEFORE_UP": "10",
    }
    settings = _load(tmp_path, env).settings
    assert settings.xray.successes_before_up == 3
    assert settings.cloudflared.successes_before_up == 10


def test_default_data_dir_is_data_under_the_working_directory(tmp_path, monkeypatch):
    """Without XP_DATA_DIR the state directory is ./data, created in the working directory."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings({}, {}, host_name="test-host").settings
    assert settings.data_dir == Path("data")
    assert (tmp_path / "data" / NODE_ID_FILE_NAME).is_file()


@pytest.mark.parametrize(
    ("name", "value", "message"), BAD_VALUES, ids=[f"{n}={v!r}" for n, v, _ in BAD_VALUES]
)
def test_bad_value_stops_with_one_line(tmp_path, name, value, message):
    """A bad value stops loading with one line naming the variable, the value and the range."""
    assert _error(tmp_path, {name: value}) == message
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("name", "value", "message"), BAD_VALUES, ids=[f"{n}={v!r}" for n, v, _ in BAD_VALUES]
)
def test_bad_flag_is_named_by_its_variable(tmp_path, name, value, message):
    """A bad flag is reported exactly like the variable it stands for."""
    assert _error(tmp_path, flags={name: value}) == message


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("XP_BIND", "[::1]:0", "bind_port", 0),
        ("XP_BIND", "[::1]:8080", "bind_host", "::1"),
        ("XP_BIND", "localhost:8080", "bind_host", "localhost"),
        ("XP_RUNTIME_FANOUT_TIMEOUT_SECS", "60", "runtime_fanout_timeout_secs", 60),
        ("XP_SSE_MAX_STREAMS", "1", "sse_max_streams", 1),
        ("XP_XRAY_API_ADDR", "[::1]:10085", "xray_api_addr", "[::1]:10085"),
        ("XP_XRAY_API_ADDR", "xray.internal:65535", "xray_api_addr", "xray.internal:65535"),
        ("XP_NODE_ID", "n" * 64, "node_id", "n" * 64),
        ("XP_NODE_NAME", "ノード 1", "node_name", "ノード 1"),
        ("XP_LOG_LEVEL", "WARNING", "log_level", "warning"),
        ("XP_LOG_FORMAT", "json", "log_format", LogFormat.JSON),
        ("XP_ADMIN_TOKEN", TOKEN, "admin_token", TOKEN),
    ],
)
def test_good_values_are_accepted(tmp_path, name, value, field, expected):
    """Values at the edges of their ranges, and in every allowed form, are accepted."""
    assert getattr(_load(tmp_path, {name: value}).settings, field) == expected


def test_ipv6_bind_gives_a_bracketed_base_url(tmp_path):
    """Without a cluster file this node's base URL is derived from XP_BIND, IPv6 in brackets."""
    settings = _load(tmp_path, {"XP_BIND": "[::1]:9000"}).settings
    assert settings.this_node.api_base_url == "http://[::1]:9000"
    assert settings.bind_is_loopback


def test_flags_beat_the_environment(tmp_path):
    """A flag given on the command line wins over the same variable in the environment."""
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    namespace = parser.parse_args(["--sse-max-streams", "7", "--log-format", "json"])
    env = {
        "XP_DATA_DIR": str(tmp_path / "data"),
        "XP_SSE_MAX_STREAMS": "5",
        "XP_LOG_FORMAT": "text",
        "XP_LOG_LEVEL": "debug",
    }
    settings = load_settings(flags_from_namespace(namespace), env, host_name="h").settings
    assert settings.sse_max_streams == 7
    assert settings.log_format is LogFormat.JSON
    assert settings.log_level == "debug"


def test_a_good_flag_hides_a_bad_variable(tmp_path):
    """A bad value in the environment is not looked at when a flag overrides it."""
    settings = _load(tmp_path, {"XP_SSE_MAX_STREAMS": "0"}, {"XP_SSE_MAX_STREAMS": "9"}).settings
    assert settings.sse_max_streams == 9


def test_empty_values_mean_unset(tmp_path):
    """An empty variable, or an empty flag over a set variable, falls back to the default."""
    settings = _load(
        tmp_path, {"XP_SSE_MAX_STREAMS": "", "XP_LOG_LEVEL": "debug"}, {"XP_LOG_LEVEL": ""}
    ).settings
    assert settings.sse_max_streams == 256
    assert settings.log_level == "info"


def test_flags_must_name_settings(tmp_path):
    """A flag mapping with a key that is no setting is a programming error, not a ConfigError."""
    with pytest.raises(KeyError, match="XP_NOPE"):
        _load(tmp_path, flags={"XP_NOPE": "1"})


def test_unknown_xp_variables_are_warned_about(tmp_path):
    """A misspelt XP_ variable is ignored with a warning naming the closest setting
    (issue 10 replaced the warning's "; ignored" with the suggestion)."""
    loaded = _load(tmp_path, {"XP_NODEID": "a", "HOME": "/root"})
    assert loaded.warnings == ("XP_NODEID is not a known setting; did you mean XP_NODE_ID?",)
    loaded = _load(tmp_path, {"XP_XRAY_HEALTH_INTERVAL": "2"})
    assert loaded.warnings == (
        "XP_XRAY_HEALTH_INTERVAL is not a known setting; "
        "did you mean XP_XRAY_HEALTH_INTERVAL_SECS?",
    )


def test_unknown_xp_variables_like_no_setting_are_just_ignored(tmp_path):
    """An XP_ variable that resembles no setting is warned about without a suggestion."""
    loaded = _load(tmp_path, {"XP_FOO": "1"})
    assert loaded.warnings == ("XP_FOO is not a known setting; ignored",)


def test_value_problems_come_before_rules_between_values(tmp_path):
    """A bad value is reported before a broken rule between two values, whatever the order."""
    message = _error(tmp_path, {"XP_XRAY_RESTART_MODE": "command", "XP_LOG_FORMAT": "xml"})
    assert message == "XP_LOG_FORMAT=xml is not one of text|json"


# --- node name -----------------------------------------------------------------------


def test_node_name_defaults_to_the_host_name_trimmed(tmp_path):
    """The default node name is the host name, cut to 64 characters."""
    settings = load_settings(
        {}, {"XP_DATA_DIR": str(tmp_path)}, host_name="h" * 70 + ".example.com"
    ).settings
    assert settings.node_name == "h" * 64


def test_node_name_falls_back_to_the_node_id_without_a_host_name(tmp_path):
    """An empty host name gives way to the node id, so a node always has a name."""
    env = {"XP_DATA_DIR": str(tmp_path), "XP_NODE_ID": "node-z"}
    assert load_settings({}, env, host_name="").settings.node_name == "node-z"


def test_node_name_is_read_from_the_system_by_default(tmp_path, monkeypatch):
    """Without an injected host name the system's host name is used."""
    monkeypatch.setattr("socket.gethostname", lambda: "from-the-system")
    assert load_settings({}, {"XP_DATA_DIR": str(tmp_path)}).settings.node_name == (
        "from-the-system"
    )


# --- restart and monitor modes -------------------------------------------------------


@pytest.mark.parametrize("component", ["XRAY", "CLOUDFLARED"])
def test_backoff_max_must_reach_the_cooldown(tmp_path, component):
    """The backoff cap below the cooldown is refused; equal to it is fine."""
    env = {
        f"XP_{component}_RESTART_COOLDOWN_SECS": "120",
        f"XP_{component}_RESTART_BACKOFF_MAX_SECS": "119",
    }
    assert _error(tmp_path, env) == (
        f"XP_{component}_RESTART_BACKOFF_MAX_SECS=119 is less than "
        f"XP_{component}_RESTART_COOLDOWN_SECS=120; it must be at least the cooldown"
    )
    env[f"XP_{component}_RESTART_BACKOFF_MAX_SECS"] = "120"
    component_settings = getattr(_load(tmp_path, env).settings, component.lower())
    assert component_settings.restart_backoff_max_secs == 120


@pytest.mark.parametrize("component", ["XRAY", "CLOUDFLARED"])
def test_command_mode_requires_a_command(tmp_path, component):
    """`command` restart mode without its command stops startup naming both variables."""
    assert _error(tmp_path, {f"XP_{component}_RESTART_MODE": "command"}) == (
        f"XP_{component}_RESTART_COMMAND is required when XP_{component}_RESTART_MODE=command"
    )


@pytest.mark.parametrize("component", ["XRAY", "CLOUDFLARED"])
def test_commands_are_split_like_a_shell(tmp_path, component):
    """A restart command is split into argv with shell quoting rules and no shell."""
    env = {
        f"XP_{component}_RESTART_MODE": "command",
        f"XP_{component}_RESTART_COMMAND": "/usr/local/bin/restart 'my service' --now $HOME",
        "XP_CLOUDFLARED_PROBE_COMMAND": "pgrep cloudflared",
    }
    settings = getattr(_load(tmp_path, env).settings, component.lower())
    assert settings.restart_mode is RestartMode.COMMAND
    assert settings.restart_command == (
        "/usr/local/bin/restart",
        "my service",
        "--now",
        "$HOME",
    )


@pytest.mark.parametrize("mode", list(RestartMode))
def test_monitor_mode_defaults_to_the_restart_mode(tmp_path, mode):
    """Unset, cloudflared's monitor mode is its restart mode."""
    env = {"XP_CLOUDFLARED_RESTART_MODE": mode.value, "XP_CLOUDFLARED_RESTART_COMMAND": "x"}
    if mode is RestartMode.COMMAND:
        env["XP_CLOUDFLARED_PROBE_COMMAND"] = "pgrep cloudflared"
    cloudflared = _load(tmp_path, env).settings.cloudflared
    assert cloudflared.monitor_mode == CloudflaredMonitorMode(mode.value)
    assert cloudflared.enabled is (mode is not RestartMode.NONE)


def test_restart_without_monitoring_is_refused(tmp_path):
    """A cloudflared restart mode with monitor mode none is a startup error."""
    env = {"XP_CLOUDFLARED_RESTART_MODE": "systemd", "XP_CLOUDFLARED_MONITOR_MODE": "none"}
    assert _error(tmp_path, env) == (
        "XP_CLOUDFLARED_RESTART_MODE=systemd needs cloudflared to be monitored, "
        "but XP_CLOUDFLARED_MONITOR_MODE=none"
    )


def test_command_monitor_mode_requires_a_probe_command(tmp_path):
    """Monitor mode `command`, set or taken from the restart mode, needs a probe command."""
    assert _error(tmp_path, {"XP_CLOUDFLARED_MONITOR_MODE": "command"}) == (
        "XP_CLOUDFLARED_PROBE_COMMAND is required when XP_CLOUDFLARED_MONITOR_MODE=command"
    )
    env = {"XP_CLOUDFLARED_RESTART_MODE": "command", "XP_CLOUDFLARED_RESTART_COMMAND": "true"}
    assert _error(tmp_path, env) == (
        "XP_CLOUDFLARED_PROBE_COMMAND is required when XP_CLOUDFLARED_MONITOR_MODE is command "
        "(by default, as XP_CLOUDFLARED_RESTART_MODE=command)"
    )
    env = {"XP_CLOUDFLARED_MONITOR_MODE": "command", "XP_CLOUDFLARED_PROBE_COMMAND": "pgrep cf"}
    assert _load(tmp_path, env).settings.cloudflared.probe_command == ("pgrep", "cf")


def test_metrics_monitor_mode_requires_a_url(tmp_path):
    """Monitor mode `metrics` needs XP_CLOUDFLARED_METRICS_URL, kept without a trailing slash."""
    assert _error(tmp_path, {"XP_CLOUDFLARED_MONITOR_MODE": "metrics"}) == (
        "XP_CLOUDFLARED_METRICS_URL is required when XP_CLOUDFLARED_MONITOR_MODE=metrics"
    )
    env = {
        "XP_CLOUDFLARED_MONITOR_MODE": "metrics",
        "XP_CLOUDFLARED_RESTART_MODE": "systemd",
        "XP_CLOUDFLARED_METRICS_URL": "http://127.0.0.1:20241/",
    }
    cloudflared = _load(tmp_path, env).settings.cloudflared
    assert cloudflared.monitor_mode is CloudflaredMonitorMode.METRICS
    assert cloudflared.restart_mode is RestartMode.SYSTEMD
    assert cloudflared.metrics_url == "http://127.0.0.1:20241"
    assert cloudflared.enabled


def test_modes_are_case_insensitive(tmp_path):
    """Mode values may be written in any case."""
    settings = _load(tmp_path, {"XP_XRAY_RESTART_MODE": "SystemD"}).settings
    assert settings.xray.restart_mode is RestartMode.SYSTEMD


def test_settings_the_mode_ignores_are_warned_about(tmp_path):
    """A command or URL that the chosen mode never uses is accepted with a warning."""
    env = {
        "XP_XRAY_RESTART_MODE": "systemd",
        "XP_XRAY_RESTART_COMMAND": "true",
        "XP_CLOUDFLARED_MONITOR_MODE": "systemd",
        "XP_CLOUDFLARED_PROBE_COMMAND": "true",
        "XP_CLOUDFLARED_METRICS_URL": "http://127.0.0.1:20241",
    }
    assert _load(tmp_path, env).warnings == (
        "XP_XRAY_RESTART_COMMAND is set but ignored because XP_XRAY_RESTART_MODE=systemd",
        "XP_CLOUDFLARED_PROBE_COMMAND is set but ignored because "
        "XP_CLOUDFLARED_MONITOR_MODE=systemd",
        "XP_CLOUDFLARED_METRICS_URL is set but ignored because XP_CLOUDFLARED_MONITOR_MODE=systemd",
    )
    env = {"XP_CLOUDFLARED_METRICS_URL": "http://127.0.0.1:20241"}
    assert _load(tmp_path, env).warnings == (
        "XP_CLOUDFLARED_METRICS_URL is set but ignored because XP_CLOUDFLARED_MONITOR_MODE is "
        "none (by default, as XP_CLOUDFLARED_RESTART_MODE=none)",
    )


# --- xray's data-plane probe (CONTRACT §6) ---------------------------------------------

DATAPLANE = {
    "XP_XRAY_DATAPLANE_PROXY": "socks5://127.0.0.1:10808",
    "XP_XRAY_DATAPLANE_URL": "https://www.gstatic.com/generate_204",
}


def test_the_data_plane_probe_is_off_by_default(tmp_path):
    """Unset proxy: no data-plane probe; interval 30 s; a data-plane failure alone
    would request no restart."""
    xray = _load(tmp_path, {}).settings.xray
    assert (xray.dataplane_proxy, xray.dataplane_url) == (None, None)
    assert (xray.dataplane_interval_secs, xray.dataplane_restart) == (30, False)


@pytest.mark.parametrize("proxy", ["socks5://127.0.0.1:10808", "http://[::1]:10809"])
def test_the_data_plane_probe_is_on_with_a_proxy_and_a_url(tmp_path, proxy):
    """A SOCKS5 or HTTP inbound and a URL turn it on; the other two settings apply."""
    env = {
        **DATAPLANE,
        "XP_XRAY_DATAPLANE_PROXY": proxy,
        "XP_XRAY_DATAPLANE_INTERVAL_SECS": "600",
        "XP_XRAY_DATAPLANE_RESTART": "TRUE",
    }
    loaded = _load(tmp_path, env)
    xray = loaded.settings.xray
    assert (xray.dataplane_proxy, xray.dataplane_url) == (proxy, DATAPLANE["XP_XRAY_DATAPLANE_URL"])
    assert (xray.dataplane_interval_secs, xray.dataplane_restart) == (600, True)
    assert loaded.warnings == ()
    assert loaded.settings.cloudflared.dataplane_proxy is None


def test_the_data_plane_url_is_required_with_the_proxy(tmp_path):
    """A proxy without a URL to fetch through it stops startup, naming both."""
    env = {"XP_XRAY_DATAPLANE_PROXY": "socks5://127.0.0.1:10808"}
    assert _error(tmp_path, env) == (
        "XP_XRAY_DATAPLANE_URL is required when XP_XRAY_DATAPLANE_PROXY=socks5://127.0.0.1:10808"
    )


def test_data_plane_settings_without_the_proxy_are_warned_about(tmp_path):
    """Without the proxy the data-plane probe is off: its other settings are unused."""
    env = {
        "XP_XRAY_DATAPLANE_URL": DATAPLANE["XP_XRAY_DATAPLANE_URL"],
        "XP_XRAY_DATAPLANE_RESTART": "true",
    }
    loaded = _load(tmp_path, env)
    assert loaded.warnings == (
        "XP_XRAY_DATAPLANE_URL is set but ignored because XP_XRAY_DATAPLANE_PROXY is unset",
        "XP_XRAY_DATAPLANE_RESTART is set but ignored because XP_XRAY_DATAPLANE_PROXY is unset",
    )


# --- admin token ---------------------------------------------------------------------


@pytest.mark.parametrize("bind", ["0.0.0.0:62416", "[::]:62416", "192.0.2.7:1", "xp.example:80"])
def test_admin_token_is_required_off_loopback(tmp_path, bind):
    """An empty admin token with a non-loopback XP_BIND stops startup; a token lets it start."""
    assert _error(tmp_path, {"XP_BIND": bind}) == (
        "XP_ADMIN_TOKEN is empty, which is allowed only when XP_BIND is a loopback address, "
        f"and XP_BIND={bind} is not"
    )
    assert not (tmp_path / "data").exists()
    assert _load(tmp_path, {"XP_BIND": bind, "XP_ADMIN_TOKEN": TOKEN}).settings.admin_token == TOKEN


@pytest.mark.parametrize("bind", ["127.0.0.1:1", "127.8.9.10:1", "[::1]:1", "localhost:1"])
def test_admin_token_may_be_empty_on_loopback(tmp_path, bind):
    """On a loopback address the admin API may run without a token."""
    settings = _load(tmp_path, {"XP_BIND": bind}).settings
    assert settings.admin_token == ""
    assert settings.bind_is_loopback


def test_admin_token_never_shows(tmp_path):
    """The admin token appears neither in the settings' repr nor in an error."""
    env = {"XP_ADMIN_TOKEN": TOKEN, "XP_CLUSTER_SECRET_FILE": str(_write_secret(tmp_path))}
    loaded = _load(tmp_path, env)
    assert TOKEN not in repr(loaded)
    assert SECRET.decode() not in repr(loaded)
    message = _error(tmp_path, {"XP_ADMIN_TOKEN": TOKEN + " x"})
    assert TOKEN not in message


# --- cluster file --------------------------------------------------------------------


def test_cluster_file_lists_the_nodes_in_order(tmp_path):
    """A cluster file's entries become the cluster, in file order, base URLs without '/'."""
    toml = (
        _node_toml("node-b", "https://b.example.com:8443/")
        + _node_toml("node-a")
        + 'access_host = "a.example.com"\n'
    )
    settings = _load(tmp_path, _cluster_env(tmp_path, toml)).settings
    assert settings.cluster == (
        ClusterNode("node-b", "node-b name", "https://b.example.com:8443"),
        ClusterNode("node-a", "node-a name", "http://node-a.internal:62416", "a.example.com"),
    )
    assert settings.node_id == "node-a"
    assert settings.node_name == "node-a name"
    assert settings.cluster_secret == SECRET
    assert not (tmp_path / "data" / NODE_ID_FILE_NAME).exists()


def test_explicit_node_name_wins_over_the_cluster_file(tmp_path):
    """XP_NODE_NAME, when set, is this node's display name even with a cluster file."""
    env = {**_cluster_env(tmp_path, THREE_NODES), "XP_NODE_NAME": "edge"}
    assert _load(tmp_path, env).settings.node_name == "edge"


def test_cluster_file_requires_node_id(tmp_path):
    """With a cluster file XP_NODE_ID must be set, and the message lists the choices."""
    env = _cluster_env(tmp_path, THREE_NODES)
    del env["XP_NODE_ID"]
    assert _error(tmp_path, env) == (
        f"XP_NODE_ID is required with XP_CLUSTER_FILE {tmp_path}/cluster.toml "
        "(one of: node-a, node-b, node-c)"
    )


def test_node_id_must_be_listed(tmp_path):
    """XP_NODE_ID must be one of the cluster file's node_ids."""
    env = _cluster_env(tmp_path, THREE_NODES, node_id="node-x")
    assert _error(tmp_path, env) == (
        f"XP_NODE_ID=node-x is not listed in XP_CLUSTER_FILE {tmp_path}/cluster.toml "
        "(listed: node-a, node-b, node-c)"
    )


GOOD_A = _node_toml("node-a")
CLUSTER_FILE_ERRORS = [
    ("empty-file", "", "lists no nodes; add [[nodes]] entries"),
    ("empty-list", "nodes = []\n", "lists no nodes; add [[nodes]] entries"),
    (
        "unknown-top-level",
        GOOD_A + "[cluster]\nname = 'x'\n",
        "unknown top-level key 'cluster'; only [[nodes]] entries are allowed",
    ),
    (
        "nodes-as-table",
        "[nodes]\nnode_id = 'node-a'\n",
        "'nodes' must be an array of tables, written as [[nodes]] entries",
    ),
    (
        "nodes-of-strings",
        "nodes = ['node-a']\n",
        "'nodes' must be an array of tables, written as [[nodes]] entries",
    ),
    (
        "missing-node-id",
        GOOD_A + '[[nodes]]\nnode_name = "b"\napi_base_url = "http://b:1"\n',
        "nodes[1]: missing field node_id",
    ),
    (
        "missing-url",
        GOOD_A + '[[nodes]]\nnode_id = "node-b"\nnode_name = "b"\n',
        "nodes[1] (node-b): missing field api_base_url",
    ),
    (
        "missing-name",
        '[[nodes]]\nnode_id = "node-a"\napi_base_url = "http://a:1"\n',
        "nodes[0] (node-a): missing field node_name",
    ),
    (
        "bad-scheme",
        GOOD_A + _node_toml("node-b") + _node_toml("node-c", "ftp://x"),
        "nodes[2] (node-c): api_base_url 'ftp://x' is not an http(s) URL",
    ),
    (
        "url-with-path",
        GOOD_A + _node_toml("node-b", "http://b:1/xp"),
        "nodes[1] (node-b): api_base_url 'http://b:1/xp' must not have a path, query or fragment",
    ),
    (
        "url-without-host",
        _node_toml("node-a", "http://:62416"),
        "nodes[0] (node-a): api_base_url 'http://:62416' has no host",
    ),
    (
        "bad-node-id",
        _node_toml("node a"),
        f"nodes[0]: node_id 'node a' is not {NODE_ID_ALLOWED}",
    ),
    (
        "node-id-not-a-string",
        '[[nodes]]\nnode_id = 7\nnode_name = "a"\napi_base_url = "http://a:1"\n',
        "nodes[0]: node_id must be a string, not an integer",
    ),
    (
        "long-node-name",
        f'[[nodes]]\nnode_id = "node-a"\nnode_name = "{"n" * 65}"\napi_base_url = "http://a:1"\n',
        f"nodes[0] (node-a): node_name '{'n' * 65}' is not 1..64 characters long",
    ),
    (
        "duplicate-id",
        GOOD_A + _node_toml("node-b") + _node_toml("node-a", "http://other:1"),
        "nodes[2] (node-a): duplicate node_id, already used by nodes[0]",
    ),
    (
        "unknown-field",
        GOOD_A + 'acess_host = "a.example.com"\n',
        "nodes[0] (node-a): unknown field 'acess_host' "
        "(allowed: node_id, node_name, api_base_url, access_host)",
    ),
    (
        "empty-access-host",
        GOOD_A + 'access_host = ""\n',
        "nodes[0] (node-a): access_host '' must be non-empty printable text",
    ),
]


@pytest.mark.parametrize(
    ("toml", "problem"),
    [(toml, problem) for _, toml, problem in CLUSTER_FILE_ERRORS],
    ids=[case_id for case_id, _, _ in CLUSTER_FILE_ERRORS],
)
def test_cluster_file_errors_name_file_entry_and_field(tmp_path, toml, problem):
    """A broken cluster file stops startup with its path, the entry and the field at fault."""
    assert _error(tmp_path, _cluster_env(tmp_path, toml)) == (
        f"XP_CLUSTER_FILE {tmp_path}/cluster.toml: {problem}"
    )
    assert not (tmp_path / "data").exists()


def test_cluster_file_that_is_not_toml(tmp_path):
    """A cluster file that is not TOML is refused with the parser's own reason."""
    toml = GOOD_A + "[[nodes]\n"
    with pytest.raises(tomllib.TOMLDecodeError) as parser_error:
        tomllib.loads(toml)
    assert _error(tmp_path, _cluster_env(tmp_path, toml)) == (
        f"XP_CLUSTER_FILE {tmp_path}/cluster.toml: is not valid TOML ({parser_error.value})"
    )


def test_cluster_file_that_is_not_utf8(tmp_path):
    """A cluster file in another encoding is refused as not UTF-8."""
    env = _cluster_env(tmp_path, "")
    Path(env["XP_CLUSTER_FILE"]).write_bytes(b'[[nodes]]\nnode_name = "\xe9"\n')
    assert _error(tmp_path, env) == (f"XP_CLUSTER_FILE {tmp_path}/cluster.toml: is not UTF-8 text")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: None, "No such file or directory"),
        (lambda path: path.mkdir(), "Is a directory"),
    ],
    ids=["missing", "directory"],
)
def test_unreadable_cluster_file(tmp_path, make, reason):
    """A cluster file that cannot be read stops startup with the system's reason."""
    path = tmp_path / "nowhere.toml"
    make(path)
    env = {"XP_CLUSTER_FILE": str(path), "XP_NODE_ID": "node-a"}
    assert _error(tmp_path, env) == f"XP_CLUSTER_FILE {path}: cannot be read ({reason})"


# --- cluster secret ------------------------------------------------------------------


def test_secret_is_required_for_more_than_one_node(tmp_path):
    """A cluster of several nodes cannot start without XP_CLUSTER_SECRET_FILE."""
    env = _cluster_env(tmp_path, THREE_NODES)
    del env["XP_CLUSTER_SECRET_FILE"]
    assert _error(tmp_path, env) == (
        "XP_CLUSTER_SECRET_FILE is required when the cluster has more than one node "
        "(XP_CLUSTER_FILE lists 3)"
    )


def test_secret_is_optional_for_one_node(tmp_path):
    """A cluster file of one node needs no secret."""
    env = _cluster_env(tmp_path, GOOD_A)
    del env["XP_CLUSTER_SECRET_FILE"]
    assert _load(tmp_path, env).settings.cluster_secret is None


def test_secret_is_stripped_and_must_be_32_bytes(tmp_path):
    """Surrounding whitespace does not count toward the 32 bytes the secret needs."""
    short = b"s" * 31
    path = _write_secret(tmp_path, b"\n  " + short + b"  \n")
    message = _error(tmp_path, {"XP_CLUSTER_SECRET_FILE": str(path)})
    assert message == (
        f"XP_CLUSTER_SECRET_FILE={path} holds 31 bytes once surrounding whitespace is "
        "stripped; at least 32 are required"
    )
    assert short.decode() not in message
    path = _write_secret(tmp_path, b"\n  " + short + b"s  \n")
    assert _load(tmp_path, {"XP_CLUSTER_SECRET_FILE": str(path)}).settings.cluster_secret == (
        short + b"s"
    )


def test_secret_readable_by_others_is_used_with_a_warning(tmp_path):
    """A secret file readable by group or others is accepted, and the warning hides the key."""
    path = _write_secret(tmp_path, mode=0o640)
    loaded = _load(tmp_path, {"XP_CLUSTER_SECRET_FILE": str(path)})
    assert loaded.settings.cluster_secret == SECRET
    assert loaded.warnings == (
        f"XP_CLUSTER_SECRET_FILE={path} is readable by other users (mode 0640); "
        "restrict it with chmod 600",
    )
    assert all(SECRET.decode() not in warning for warning in loaded.warnings)


def test_private_secret_file_gives_no_warning(tmp_path):
    """A secret file only its owner can read gives no warning."""
    path = _write_secret(tmp_path, mode=0o600)
    assert _load(tmp_path, {"XP_CLUSTER_SECRET_FILE": str(path)}).warnings == ()


def test_oversized_secret_file(tmp_path):
    """A secret file far larger than any key is refused without its contents in the message."""
    path = _write_secret(tmp_path, b"k" * 4097)
    assert _error(tmp_path, {"XP_CLUSTER_SECRET_FILE": str(path)}) == (
        f"XP_CLUSTER_SECRET_FILE={path} is larger than 4096 bytes"
    )
    path = _write_secret(tmp_path, b"k" * 4096)
    assert _load(tmp_path, {"XP_CLUSTER_SECRET_FILE": str(path)}).settings.cluster_secret


def test_missing_secret_file(tmp_path):
    """A secret file that does not exist stops startup naming it."""
    path = tmp_path / "absent.secret"
    assert _error(tmp_path, {"XP_CLUSTER_SECRET_FILE": str(path)}) == (
        f"XP_CLUSTER_SECRET_FILE={path} cannot be read (No such file or directory)"
    )


# --- CA file -------------------------------------------------------------------------


def test_ca_file_is_checked(tmp_path):
    """XP_CLUSTER_CA_FILE must be readable and hold PEM certificates."""
    path = tmp_path / "ca.pem"
    assert _error(tmp_path, {"XP_CLUSTER_CA_FILE": str(path)}) == (
        f"XP_CLUSTER_CA_FILE={path} cannot be read (No such file or directory)"
    )
    path.write_text("not a certificate\n")
    assert _error(tmp_path, {"XP_CLUSTER_CA_FILE": str(path)}) == (
        f"XP_CLUSTER_CA_FILE={path} holds no usable PEM certificates"
    )
    trustme.CA().cert_pem.write_to_path(str(path))
    assert _load(tmp_path, {"XP_CLUSTER_CA_FILE": str(path)}).settings.cluster_ca_file == path


# --- data directory and node id ------------------------------------------------------


def test_data_dir_is_created_with_its_parents(tmp_path):
    """XP_DATA_DIR is created, parents included, when missing."""
    data_dir = tmp_path / "var" / "lib" / "xpagent"
    _load(tmp_path, {"XP_DATA_DIR": str(data_dir)})
    assert data_dir.is_dir()


def test_data_dir_that_cannot_be_created(tmp_path):
    """A data directory that cannot be created stops startup naming XP_DATA_DIR."""
    (tmp_path / "file").write_text("")
    data_dir = tmp_path / "file" / "data"
    assert _error(tmp_path, {"XP_DATA_DIR": str(data_dir)}) == (
        f"XP_DATA_DIR={data_dir} cannot be created (Not a directory)"
    )


def test_node_id_is_generated_once_and_kept(tmp_path):
    """Without XP_NODE_ID the first start writes an id to node_id, and later starts reuse it."""
    first = _load(tmp_path).settings.node_id
    assert NODE_ID_PATTERN.fullmatch(first)
    assert (tmp_path / "data" / NODE_ID_FILE_NAME).read_text() == first + "\n"
    assert _load(tmp_path).settings.node_id == first
    assert [p.name for p in (tmp_path / "data").iterdir()] == [NODE_ID_FILE_NAME]


def test_node_id_file_may_be_written_by_hand(tmp_path):
    """An id written into node_id by an operator, with whitespace around it, is used."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / NODE_ID_FILE_NAME).write_text("  edge-01\n")
    assert _load(tmp_path).settings.node_id == "edge-01"


def test_explicit_node_id_leaves_the_file_alone(tmp_path):
    """XP_NODE_ID wins over the node_id file and writes none."""
    settings = _load(tmp_path, {"XP_NODE_ID": "edge-02"}).settings
    assert settings.node_id == "edge-02"
    assert settings.this_node.node_id == "edge-02"
    assert not (tmp_path / "data" / NODE_ID_FILE_NAME).exists()


@pytest.mark.parametrize(
    ("content", "shown"),
    [(b"not valid!\n", "'not valid!'"), (b"\n", "''"), (b"x" * 65, "x" * 65)],
    ids=["bad-characters", "empty", "too-long"],
)
def test_invalid_node_id_file_stops_startup(tmp_path, content, shown):
    """A node_id file that holds no valid id is an error naming the file."""
    path = tmp_path / "data" / NODE_ID_FILE_NAME
    path.parent.mkdir()
    path.write_bytes(content)
    assert _error(tmp_path) == (
        f"node id file {path} (in XP_DATA_DIR) holds {shown}, which is not "
        f"{NODE_ID_ALLOWED}; fix or remove it"
    )
    assert path.read_bytes() == content


def test_unreadable_node_id_file_stops_startup(tmp_path):
    """A node_id that is not a readable file is an error naming it."""
    path = tmp_path / "data" / NODE_ID_FILE_NAME
    path.mkdir(parents=True)
    assert _error(tmp_path) == (
        f"node id file {path} (in XP_DATA_DIR) cannot be read (Is a directory)"
    )


def test_bad_configuration_leaves_nothing_on_disk(tmp_path):
    """A configuration refused for a later reason creates no data directory or node id."""
    env = {"XP_CLUSTER_SECRET_FILE": str(tmp_path / "absent")}
    _error(tmp_path, env)
    assert sorted(os.listdir(tmp_path)) == []


def test_reference_documents_every_setting():
    """docs/configuration.md has a table row for each variable with its flag."""
    reference = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    for setting in SETTINGS:
        assert f"| `{setting.name}` | `{setting.flag}` |" in reference
