"""The service files of a `ServicePlan`, as text: pure functions, no I/O.

Each file is placed in the output directory at the path it is installed to
(`etc/systemd/system/xpagent.service` → `/etc/systemd/system/xpagent.service`):

- systemd: a hardened unit; a polkit rule letting the agent's user run exactly
  `restart` on exactly the configured units;
- OpenRC: a script supervised by `supervise-daemon`; a doas.conf fragment and a
  sudoers drop-in permitting exactly `rc-service SERVICE restart`;
- both: the environment file, every `XP_*` setting documented.

Permission files are only written when a restart goes through them.
"""

from __future__ import annotations

import json
import shlex
from pathlib import PurePosixPath

import attrs

from ._plan import Init, ServicePlan
from ._reference import ENV_FILE_PATH, env_file

__all__ = [
    "RC_SERVICE_PATH",
    "RenderedFile",
    "doas_conf",
    "openrc_script",
    "polkit_rule",
    "render_files",
    "sudoers",
    "systemd_unit",
]

#: Where OpenRC installs rc-service; sudoers needs the full path (sudo also accepts
#: /usr/sbin/rc-service where /sbin links there, by comparing the files).
RC_SERVICE_PATH = "/sbin/rc-service"
#: The polkit action systemd checks for starting, stopping and restarting units.
MANAGE_UNITS_ACTION = "org.freedesktop.systemd1.manage-units"

_RENDERED_BY = "Rendered by `xpagent ops render --init {init}`: render again rather than edit."


@attrs.frozen
class RenderedFile:
    """One file to write: its path inside the output directory, text and mode."""

    path: PurePosixPath
    content: str
    mode: int
    about: str

    @property
    def installs_to(self) -> PurePosixPath:
        return PurePosixPath("/") / self.path


# --- systemd ------------------------------------------------------------------------

_NO_PRIVILEGE = """\
# Restarts go through systemctl and polkit, so the agent needs no privilege at all.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources"""

_SETUID_KEPT = """\
# A restart command (command mode) may need sudo or doas, so setuid must keep working:
# no NoNewPrivileges=, no empty CapabilityBoundingSet=, no ~@privileged filter. Such a
# command runs inside this sandbox: let it ask the init system (`sudo systemctl restart
# xray.service`), never start the proxy itself.
SystemCallFilter=@system-service"""


def systemd_unit(plan: ServicePlan) -> str:
    user = plan.user
    state = plan.state_directory
    lines = [
        f"# xpagent: the node observability agent, running as the unprivileged user {user}.",
        f"# {_RENDERED_BY.format(init=Init.SYSTEMD)}",
        f"# Settings: {ENV_FILE_PATH}. Guide: docs/ops.md.",
        "",
        "[Unit]",
        "Description=xpagent node observability agent",
        "After=network-online.target",
        "Wants=network-online.target",
        "# At most 5 starts in 5 minutes, then the unit stays failed (start-limit-hit).",
        "StartLimitIntervalSec=300",
        "StartLimitBurst=5",
        "",
        "[Service]",
        "Type=exec",
        f"User={user}",
        f"Group={user}",
        f"EnvironmentFile={ENV_FILE_PATH}",
        f"ExecStart={' '.join(plan.command)}",
        "Restart=on-failure",
        "RestartSec=5",
        "# Exit status 2 is a configuration error, which restarting cannot fix.",
        "RestartPreventExitStatus=2",
        "TimeoutStopSec=15",
        f"LimitNOFILE={plan.open_files_limit}",
        "UMask=0077",
        "",
        "# The state directory is the only place the agent writes.",
    ]
    if state is not None:
        lines += [f"StateDirectory={state}", "StateDirectoryMode=0700"]
        lines.append(f"WorkingDirectory={plan.data_dir}")
    lines += [
        f"ReadWritePaths={plan.data_dir}",
        "",
        "# Sandboxing: the agent needs its state directory, the network (its API, xray's",
        "# API, the other nodes, cloudflared's metrics), the system bus (systemctl asks",
        "# polkit) and nothing else.",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "PrivateMounts=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "RemoveIPC=yes",
        "SystemCallArchitectures=native",
        "SystemCallErrorNumber=EPERM",
        _SETUID_KEPT if plan.escalates else _NO_PRIVILEGE,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def polkit_rule(plan: ServicePlan) -> str:
    """A polkit rule (ES5, as polkit's JavaScript engines require) answering YES to
    exactly: the action `manage-units`, the plan's user, the verb `restart`, one of
    the plan's units. Anything else is left to the other rules and the defaults."""
    units = " || ".join(f"unit === {json.dumps(unit)}" for unit in plan.systemd_units)
    names = ", ".join(plan.systemd_units)
    return f"""\
// xpagent: lets the user {json.dumps(plan.user)} restart exactly {names}, and nothing else:
// not start, stop or reload, not another unit, not another user or action.
// {_RENDERED_BY.format(init=Init.SYSTEMD)}
// Install as /etc/polkit-1/rules.d/50-xpagent.rules (polkit >= 0.106; read at once).
polkit.addRule(function (action, subject) {{
    if (action.id !== {json.dumps(MANAGE_UNITS_ACTION)}) {{
        return polkit.Result.NOT_HANDLED;
    }}
    if (subject.user !== {json.dumps(plan.user)}) {{
        return polkit.Result.NOT_HANDLED;
    }}
    if (action.lookup("verb") !== "restart") {{
        return polkit.Result.NOT_HANDLED;
    }}
    var unit = action.lookup("unit");
    if ({units}) {{
        return polkit.Result.YES;
    }}
    return polkit.Result.NOT_HANDLED;
}});
"""


# --- OpenRC -------------------------------------------------------------------------


def openrc_script(plan: ServicePlan) -> str:
    program, *args = plan.command
    user = plan.user
    # No setuid is needed when no restart goes through doas, sudo or a command.
    no_new_privs = not plan.openrc_services and not plan.escalates
    lines = [
        "#!/sbin/openrc-run",
        f"# xpagent: the node observability agent, running as the unprivileged user {user}",
        "# under supervise-daemon, which respawns it when it dies.",
        f"# {_RENDERED_BY.format(init=Init.OPENRC)}",
        f"# Settings: {ENV_FILE_PATH} (sourced below). Guide: docs/ops.md.",
        "",
        'name="xpagent"',
        'description="xpagent node observability agent"',
        'supervisor="supervise-daemon"',
        f"command={shlex.quote(program)}",
        f"command_args={shlex.quote(' '.join(args))}",
        f'command_user="{user}:{user}"',
        f'directory="{plan.data_dir}"',
        'umask="077"',
        f'rc_ulimit="-n {plan.open_files_limit}"',
        "# Respawn a dead agent after 5 s, at most 5 times in 300 s; then the service is",
        "# left stopped (exit status 2, a configuration error, does not heal by itself).",
        "respawn_delay=5",
        "respawn_max=5",
        "respawn_period=300",
        "# The agent logs to stderr, one line per record (OpenRC >= 0.44).",
        'error_logger="logger -t xpagent -p daemon.info"',
    ]
    if no_new_privs:
        lines += [
            "# Nothing is restarted through doas or sudo: no privilege is ever needed.",
            'no_new_privs="yes"',
        ]
    lines += [
        "",
        f': "${{XPAGENT_ENV_FILE:={ENV_FILE_PATH}}}"',
        "",
        "depend() {",
        "\tneed net",
        "\tuse dns logger",
        "\tafter firewall",
        "}",
        "",
        "start_pre() {",
        '\tif [ -f "$XPAGENT_ENV_FILE" ]; then',
        "\t\tset -a",
        '\t\t. "$XPAGENT_ENV_FILE"',
        "\t\tset +a",
        "\tfi",
        f"\tcheckpath --directory --owner {user}:{user} --mode 0700 {plan.data_dir}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _services_phrase(plan: ServicePlan) -> str:
    return ", ".join(plan.openrc_services)


def doas_conf(plan: ServicePlan) -> str:
    lines = [
        f"# xpagent: lets the user {plan.user} run exactly `rc-service SERVICE restart` for",
        f"# {_services_phrase(plan)}, without a password, and nothing else.",
        f"# {_RENDERED_BY.format(init=Init.OPENRC)}",
        "# Install as /etc/doas.d/xpagent.conf, or append to /etc/doas.conf; check with",
        "# `doas -C FILE`.",
    ]
    lines += [
        f"permit nopass {plan.user} as root cmd rc-service args {service} restart"
        for service in plan.openrc_services
    ]
    return "\n".join(lines) + "\n"


def sudoers(plan: ServicePlan) -> str:
    commands = ", ".join(f"{RC_SERVICE_PATH} {service} restart" for service in plan.openrc_services)
    lines = [
        f"# xpagent: lets the user {plan.user} run exactly `rc-service SERVICE restart` for",
        f"# {_services_phrase(plan)}, without a password, and nothing else (the agent",
        "# falls back to sudo when doas is missing or refuses).",
        f"# {_RENDERED_BY.format(init=Init.OPENRC)}",
        "# Install as /etc/sudoers.d/xpagent (mode 0440, no dot in the name); check with",
        "# `visudo -cf FILE`.",
        f"{plan.user} ALL=(root) NOPASSWD: {commands}",
    ]
    return "\n".join(lines) + "\n"


# --- all of them ------------------------------------------------------------------------


def render_files(plan: ServicePlan, *, hide_secrets: bool = False) -> tuple[RenderedFile, ...]:
    """The files of `plan`, in the order they are installed.

    With `hide_secrets` the environment file shows secret values as `<hidden>`
    (for printing only). Raises ValueError for a value no environment file can hold.
    """
    env = RenderedFile(
        PurePosixPath(ENV_FILE_PATH.removeprefix("/")),
        env_file(dict(plan.env), hide_secrets=hide_secrets),
        0o600,
        "settings (may hold the admin token: keep it readable by root only)",
    )
    files: list[RenderedFile] = []
    if plan.init is Init.SYSTEMD:
        files.append(
            RenderedFile(
                PurePosixPath("etc/systemd/system/xpagent.service"),
                systemd_unit(plan),
                0o644,
                "systemd unit",
            )
        )
        files.append(env)
        if plan.systemd_units:
            files.append(
                RenderedFile(
                    PurePosixPath("etc/polkit-1/rules.d/50-xpagent.rules"),
                    polkit_rule(plan),
                    0o644,
                    "polkit rule: restart of " + ", ".join(plan.systemd_units),
                )
            )
    else:
        files.append(
            RenderedFile(
                PurePosixPath("etc/init.d/xpagent"), openrc_script(plan), 0o755, "OpenRC script"
            )
        )
        files.append(env)
    if plan.openrc_services:
        restarts = ", ".join(plan.openrc_services)
        files.append(
            RenderedFile(
                PurePosixPath("etc/doas.d/xpagent.conf"),
                doas_conf(plan),
                0o600,
                f"doas rule: rc-service restart of {restarts}",
            )
        )
        files.append(
            RenderedFile(
                PurePosixPath("etc/sudoers.d/xpagent"),
                sudoers(plan),
                0o440,
                f"sudoers drop-in: rc-service restart of {restarts}",
            )
        )
    return tuple(files)
