"""Restarters: how a restart of a component is requested.

A restarter runs one command and reports a `RestartResult`: success means the
command exited 0 (whether the component came back is for the probes to say). It
takes no timeout: the supervisor bounds it with the restart timeout, and on that
deadline the command's whole process group is killed (see `run_command`).
"""

from __future__ import annotations

from typing import ClassVar, Protocol, assert_never

import attrs

from xpagent.core import RestartResult

from ._commands import CommandResult, command_argv, run_command
from ._settings import ComponentSettings, RestartMode

__all__ = [
    "CommandRestarter",
    "OpenRCRestarter",
    "Restarter",
    "SystemdRestarter",
    "build_restarter",
]


class Restarter(Protocol):
    @property
    def how(self) -> str:
        """The restart mode, for events and logs: `systemd`, `openrc` or `command`."""
        ...

    async def restart(self) -> RestartResult:
        """Request one restart; runs until the command ends or is cancelled."""
        ...


def _outcome(result: CommandResult) -> RestartResult:
    return RestartResult.success() if result.ok else RestartResult.failure(result.reason)


@attrs.frozen
class SystemdRestarter:
    """`systemctl restart UNIT`."""

    how: ClassVar[str] = "systemd"
    unit: str

    @property
    def argv(self) -> tuple[str, ...]:
        return ("systemctl", "restart", self.unit)

    async def restart(self) -> RestartResult:
        return _outcome(await run_command(self.argv))


@attrs.frozen
class OpenRCRestarter:
    """`doas -n rc-service SERVICE restart`, falling back to `sudo -n` when doas is
    missing or refuses (its own `doas:` message); when both fail, the reason names
    both. A restart that doas ran and that failed is not run a second time."""

    how: ClassVar[str] = "openrc"
    service: str

    @property
    def attempts(self) -> tuple[tuple[str, ...], ...]:
        command = ("rc-service", self.service, "restart")
        return (("doas", "-n", *command), ("sudo", "-n", *command))

    async def restart(self) -> RestartResult:
        reasons: list[str] = []
        for argv in self.attempts:
            result = await run_command(argv)
            if result.ok:
                return RestartResult.success()
            # A program that could not start already names itself in its reason.
            reasons.append(f"{argv[0]}: {result.reason}" if result.started else result.reason)
            escalation_refused = not result.started or (result.last_line or "").startswith(
                f"{argv[0]}:"
            )
            if not escalation_refused:
                break  # rc-service itself ran and failed: its reason is the answer
        return RestartResult.failure("; ".join(reasons))


@attrs.frozen
class CommandRestarter:
    """The operator's own restart command (`XP_*_RESTART_COMMAND`), run without a shell."""

    how: ClassVar[str] = "command"
    argv: tuple[str, ...] = attrs.field(converter=command_argv)

    async def restart(self) -> RestartResult:
        return _outcome(await run_command(self.argv))


def build_restarter(settings: ComponentSettings) -> Restarter | None:
    """The restarter of a component's restart mode; None for mode `none`.

    Raises ValueError for mode `command` without a command, which the
    configuration check refuses first.
    """
    mode = settings.restart_mode
    if mode is RestartMode.NONE:
        return None
    if mode is RestartMode.SYSTEMD:
        return SystemdRestarter(settings.systemd_unit)
    if mode is RestartMode.OPENRC:
        return OpenRCRestarter(settings.openrc_service)
    if mode is RestartMode.COMMAND:
        if not settings.restart_command:
            raise ValueError("restart mode command needs a restart command")
        return CommandRestarter(settings.restart_command)
    assert_never(mode)
