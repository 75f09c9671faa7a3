"""`xpagent ops render`: the service files, restart permissions and environment
file for this node, from the same `XP_*` settings (environment or flags) as
`xpagent run`.

The settings are checked exactly as `xpagent run` checks them, without creating
anything; the files are written under `--out` only (or printed with
`--dry-run`), then the closing note says where each one goes and how to
install it. Bad input stops with exit status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TextIO

from xpagent.daemon import (
    SETTINGS,
    ConfigError,
    add_run_arguments,
    flags_from_namespace,
    load_settings,
)

from ._output import write_files
from ._plan import DEFAULT_USER, Init, RenderError, ServicePlan, plan_service
from ._templates import RenderedFile, render_files

__all__ = [
    "EXIT_BAD_INPUT",
    "add_render_arguments",
    "default_command",
    "given_settings",
    "run_render",
    "security_exposure",
]

EXIT_BAD_INPUT = 2
_PROG = "xpagent ops render"
_SECURITY_TIMEOUT_SECS = 30
_EXPOSURE = re.compile(r"Overall exposure level for \S+: ([0-9.]+) (\S+)")


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--init",
        required=True,
        choices=[init.value for init in Init],
        help="the host's init system",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="directory to write into (created if missing); each file goes to the path "
        "it is installed to, e.g. DIR/etc/systemd/system/xpagent.service",
    )
    parser.add_argument(
        "--user",
        default=DEFAULT_USER,
        help="the unprivileged user the agent runs as (default: %(default)s)",
    )
    parser.add_argument(
        "--executable",
        metavar="PATH",
        help="the xpagent program the service starts (default: the one running this command)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the files instead of writing them (secrets hidden)",
    )
    add_run_arguments(parser)


def default_command() -> tuple[str, ...]:
    """How a service starts the xpagent that is running now: its `xpagent` script
    when it sits beside the interpreter (a venv, pipx), else `python -m xpagent`."""
    script = Path(sys.executable).with_name("xpagent")
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script), "run")
    return (sys.executable, "-m", "xpagent", "run")


def given_settings(flags: Mapping[str, str | None], env: Mapping[str, str]) -> dict[str, str]:
    """The settings the operator set, as given: a flag wins, empty means unset."""
    given: dict[str, str] = {}
    for setting in SETTINGS:
        flag = flags.get(setting.name)
        value = flag if flag is not None else env.get(setting.name)
        if value:
            given[setting.name] = value
    return given


def security_exposure(unit: Path) -> str | None:
    """`systemd-analyze security`'s overall exposure of the unit file (`1.4 OK`), or
    None when the tool is missing or cannot judge a unit file offline (< 250)."""
    try:
        done = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_SECURITY_TIMEOUT_SECS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = _EXPOSURE.search(done.stdout)
    return f"{found[1]} {found[2]}" if found else None


def _fail(stderr: TextIO, message: str) -> int:
    print(f"{_PROG}: {message}", file=stderr)
    return EXIT_BAD_INPUT


def _print_dry_run(files: Sequence[RenderedFile], out: Path | None, stdout: TextIO) -> None:
    for file in files:
        where = out / Path(*file.path.parts) if out is not None else file.path
        print(
            f"==> {where} (mode {file.mode:04o}, installs to {file.installs_to}) <==", file=stdout
        )
        stdout.write(file.content)
        print(file=stdout)


def _install_steps(plan: ServicePlan, files: Sequence[RenderedFile], out: Path) -> list[str]:
    user = plan.user
    nologin = "/sbin/nologin"
    if plan.init is Init.SYSTEMD:
        steps = [
            f"useradd --system --user-group --home-dir {plan.data_dir} --no-create-home "
            f"--shell /usr/sbin/nologin {user}",
        ]
    else:
        steps = [
            f"addgroup -S {user} && adduser -S -D -H -h {plan.data_dir} -s {nologin} "
            f"-G {user} {user}",
        ]
    if plan.init is Init.SYSTEMD and plan.state_directory is None:
        # StateDirectory= only manages directories under /var/lib.
        steps.append(f"install -d -o {user} -g {user} -m 0700 {plan.data_dir}")
    secret = dict(plan.env).get("XP_CLUSTER_SECRET_FILE")
    if secret is not None:
        steps.append(f"chown {user}:{user} {secret} && chmod 0600 {secret}")
    for file in files:
        source = out / Path(*file.path.parts)
        steps.append(f"install -D -m {file.mode:04o} {source} {file.installs_to}")
    if plan.init is Init.SYSTEMD:
        steps += ["systemctl daemon-reload", "systemctl enable --now xpagent.service"]
    else:
        steps += ["rc-update add xpagent default", "rc-service xpagent start"]
    steps.append("xpagent status")
    return steps


def _summary(
    plan: ServicePlan,
    files: Sequence[RenderedFile],
    changed: Sequence[bool],
    out: Path,
    exposure: str | None,
) -> list[str]:
    written = sum(changed)
    lines = [
        f"{_PROG}: {written} file(s) written, {len(files) - written} unchanged, in {out}",
    ]
    width = max(len(str(file.path)) for file in files)
    for file, was_changed in zip(files, changed, strict=True):
        state = "written" if was_changed else "unchanged"
        lines.append(f"  {file.path!s:<{width}}  {state:<9}  {file.about}")
    if plan.init is Init.SYSTEMD:
        score = exposure or "not measured (needs systemd-analyze from systemd >= 250)"
        lines.append(f"systemd-analyze security exposure of the unit: {score}")
    if not plan.systemd_units and not plan.openrc_services:
        lines.append(
            "No restart permission rendered: no restart goes through "
            + ("systemd" if plan.init is Init.SYSTEMD else "OpenRC")
            + " (restart modes none or command)."
        )
    lines.append("Install, as root (see docs/ops.md):")
    lines.extend(f"  {step}" for step in _install_steps(plan, files, out))
    return lines


def _warnings(plan: ServicePlan) -> list[str]:
    found: list[str] = []
    program = PurePosixPath(plan.command[0])
    if plan.init is Init.SYSTEMD and any(
        program.is_relative_to(home) for home in ("/home", "/root")
    ):
        found.append(
            f"{program} is under a home directory, which the unit's ProtectHome=yes hides "
            "from the service; install xpagent under /opt (docs/ops.md)"
        )
    return found


def run_render(
    args: argparse.Namespace,
    env: Mapping[str, str],
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run `xpagent ops render` for the parsed `args`; returns the exit status."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    out: Path | None = args.out
    if out is None and not args.dry_run:
        return _fail(stderr, "--out DIR is required (or --dry-run to print the files)")
    flags = flags_from_namespace(args)
    try:
        loaded = load_settings(flags, env, create_files=False)
        command = (args.executable, "run") if args.executable else default_command()
        plan = plan_service(
            loaded.settings,
            given_settings(flags, env),
            init=Init(args.init),
            user=args.user,
            command=command,
        )
        files = render_files(plan)
        shown = render_files(plan, hide_secrets=True)
    except (ConfigError, RenderError) as exc:
        return _fail(stderr, str(exc))
    except ValueError as exc:  # a value no environment file can hold
        return _fail(stderr, f"cannot write the environment file: {exc}")
    for warning in (*loaded.warnings, *_warnings(plan)):
        print(f"{_PROG}: warning: {warning}", file=stderr)

    if args.dry_run:
        _print_dry_run(shown, out, stdout)
        return 0
    assert out is not None
    try:
        changed = write_files(out, files)
    except RenderError as exc:
        return _fail(stderr, str(exc))
    exposure = None
    if plan.init is Init.SYSTEMD:
        exposure = security_exposure(out / "etc/systemd/system/xpagent.service")
    for line in _summary(plan, files, changed, out, exposure):
        print(line, file=stdout)
    return 0
