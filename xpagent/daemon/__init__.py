"""The node daemon: configuration, probes, restarters, supervisors, the recorder,
the hub and the state file on disk — the I/O shell around `xpagent.core`."""

from ._clock import TrioWallClock, WallClock, system_clock
from ._commands import CommandResult, run_command
from ._config import (
    SETTINGS,
    ConfigError,
    LoadedSettings,
    Setting,
    SettingsGroup,
    add_run_arguments,
    flags_from_namespace,
    load_settings,
    settings_groups,
)
from ._hub import Hub, Lagged, Subscription
from ._logging import configure_logging, logger
from ._node import NodeHandle, open_http_client, serve_node
from ._probes import (
    GET_STATS_PATH,
    CommandProbe,
    MetricsProbe,
    Probe,
    XrayProbe,
    open_grpc_client,
)
from ._recorder import Recorder
from ._restarters import Restarter, build_restarter
from ._settings import (
    CloudflaredMonitorMode,
    ClusterNode,
    ComponentSettings,
    LogFormat,
    RestartMode,
    Settings,
)
from ._state_store import (
    STATE_FILE_NAME,
    KeepAsideError,
    LoadedState,
    StateStoreError,
    keep_aside,
    load_state,
    write_state,
)
from ._supervisor import Supervisor, keep_running
from ._transport_errors import (
    TransportFailure,
    classify_transport_error,
    describe_transport_error,
    shorten_reason,
)

__all__ = [
    "GET_STATS_PATH",
    "SETTINGS",
    "STATE_FILE_NAME",
    "CloudflaredMonitorMode",
    "ClusterNode",
    "CommandProbe",
    "CommandResult",
    "ComponentSettings",
    "ConfigError",
    "Hub",
    "KeepAsideError",
    "Lagged",
    "LoadedSettings",
    "LoadedState",
    "LogFormat",
    "MetricsProbe",
    "NodeHandle",
    "Probe",
    "Recorder",
    "RestartMode",
    "Restarter",
    "Setting",
    "Settings",
    "SettingsGroup",
    "StateStoreError",
    "Subscription",
    "Supervisor",
    "TransportFailure",
    "TrioWallClock",
    "WallClock",
    "XrayProbe",
    "add_run_arguments",
    "build_restarter",
    "classify_transport_error",
    "configure_logging",
    "describe_transport_error",
    "flags_from_namespace",
    "keep_aside",
    "keep_running",
    "load_settings",
    "load_state",
    "logger",
    "open_grpc_client",
    "open_http_client",
    "run_command",
    "serve_node",
    "settings_groups",
    "shorten_reason",
    "system_clock",
    "write_state",
]
