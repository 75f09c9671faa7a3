"""Operating a node: `xpagent ops render` writes the service files (systemd unit or
OpenRC script), the restart permissions (polkit rule, doas.conf lines, sudoers
drop-in) and the environment file for this node. `python -m xpagent.ops.docs`
regenerates the settings reference and the examples in `packaging/`.
"""

from ._command import add_render_arguments, default_command, run_render, security_exposure
from ._plan import DEFAULT_USER, SERVICE_DATA_DIR, Init, RenderError, ServicePlan, plan_service
from ._reference import ENV_FILE_PATH, SettingsGroup, env_file, settings_groups, settings_tables
from ._templates import RenderedFile, render_files

__all__ = [
    "DEFAULT_USER",
    "ENV_FILE_PATH",
    "SERVICE_DATA_DIR",
    "Init",
    "RenderError",
    "RenderedFile",
    "ServicePlan",
    "SettingsGroup",
    "add_render_arguments",
    "default_command",
    "env_file",
    "plan_service",
    "render_files",
    "run_render",
    "security_exposure",
    "settings_groups",
    "settings_tables",
]
