"""Restarters and the command runner, with fake systemctl/rc-service/doas/sudo on PATH."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.conftest import FakePrograms
from tests.processes import read_pids, wait_for_exit
from xpagent.core import RestartResult
from xpagent.daemon._commands import TAIL_BYTES, CommandResult, run_command
from xpagent.daemon._restarters import (
    CommandRestarter,
    OpenRCRestarter,
    Restarter,
    SystemdRestarter,
    build_restarter,
)
from xpagent.daemon._settings import ComponentSettings, RestartMode

# Generous: real processes answer in milliseconds; this only turns a hang into a failure.
PROCESS_WAIT_SECS = 5.0


# --- each mode runs the right command --------------------------------------------------


async def test_systemd_restart_runs_systemctl_restart(fake_programs: FakePrograms):
    """systemd mode runs `systemctl restart UNIT`; exit 0 is success."""
    result = await SystemdRestarter("xray.service").restart()

    assert result == RestartResult.success()
    assert fake_programs.calls() == ["systemctl restart xray.service"]


async def test_openrc_restart_runs_rc_service_through_doas(fake_programs: FakePrograms):
    """openrc mode runs `doas -n rc-service SERVICE restart` and stops there when it works."""
    result = await OpenRCRestarter("xray").restart()

    assert result == RestartResult.success()
    assert fake_programs.calls() == ["doas -n rc-service xray restart", "rc-service xray restart"]


async def test_command_restart_runs_the_argv_without_a_shell(fake_programs: FakePrograms):
    """command mode runs the operator's argv as given: no shell, no expansion."""
    result = await CommandRestarter(("fake-tool", "restart", "x ray", "$PATH", "*")).restart()

    assert result == RestartResult.success()
    assert fake_programs.calls() == ["fake-tool restart x ray $PATH *"]


# --- failures ----------------------------------------------------------------------------


async def test_a_failed_restart_reports_exit_status_and_last_stderr_line(
    fake_programs: FakePrograms,
):
    """A restart command exiting 1 is a failure with its status and last stderr line."""
    fake_programs.behave(
        "systemctl",
        exit_status=1,
        stderr="Job for xray.service failed because the control process exited.",
    )

    result = await SystemdRestarter("xray.service").restart()

    assert result == RestartResult.failure(
        "exit 1: Job for xray.service failed because the control process exited."
    )


async def test_openrc_falls_back_to_sudo_when_doas_fails(fake_programs: FakePrograms):
    """When doas refuses, the same restart is asked through `sudo -n`."""
    fake_programs.behave("doas", exit_status=1, stderr="doas: Authentication failed")

    result = await OpenRCRestarter("xray").restart()

    assert result == RestartResult.success()
    assert fake_programs.calls() == [
        "doas -n rc-service xray restart",
        "sudo -n rc-service xray restart",
        "rc-service xray restart",
    ]


async def test_openrc_does_not_restart_twice_when_the_service_itself_fails(
    fake_programs: FakePrograms,
):
    """A restart that doas ran and rc-service failed is reported, not retried via sudo."""
    fake_programs.behave("rc-service", exit_status=1, stderr=" * ERROR: xray failed to start")

    result = await OpenRCRestarter("xray").restart()

    assert result == RestartResult.failure("doas: exit 1: ERROR: xray failed to start")
    assert fake_programs.calls() == ["doas -n rc-service xray restart", "rc-service xray restart"]


async def test_openrc_falls_back_to_sudo_when_doas_is_missing(fake_programs: FakePrograms):
    """Without doas on PATH, sudo is used."""
    fake_programs.remove("doas")

    result = await OpenRCRestarter("xray").restart()

    assert result == RestartResult.success()
    assert fake_programs.calls() == ["sudo -n rc-service xray restart", "rc-service xray restart"]


async def test_openrc_failure_names_both_doas_and_sudo(fake_programs: FakePrograms):
    """When doas and sudo both fail, the reason gives both."""
    fake_programs.behave("doas", exit_status=1, stderr="doas: Authentication failed")
    fake_programs.behave("sudo", exit_status=1, stderr="sudo: a password is required")

    result = await OpenRCRestarter("xray").restart()

    assert result == RestartResult.failure(
        "doas: exit 1: doas: Authentication failed; sudo: exit 1: sudo: a password is required"
    )


async def test_openrc_failure_with_neither_program_installed(fake_programs: FakePrograms):
    """With neither doas nor sudo on PATH, the reason says so for both."""
    fake_programs.remove("doas")
    fake_programs.remove("sudo")

    result = await OpenRCRestarter("xray").restart()

    assert result == RestartResult.failure("doas: not found on PATH; sudo: not found on PATH")
    assert fake_programs.calls() == []


async def test_a_restart_program_missing_from_path_is_a_failure(fake_programs: FakePrograms):
    """A restart program that is not on PATH fails with `not found on PATH`."""
    fake_programs.remove("systemctl")

    assert await SystemdRestarter("xray.service").restart() == RestartResult.failure(
        "systemctl: not found on PATH"
    )
    assert await CommandRestarter(("xray-restart",)).restart() == RestartResult.failure(
        "xray-restart: not found on PATH"
    )


@pytest.mark.parametrize(
    "restarter",
    [SystemdRestarter("xray.service"), OpenRCRestarter("xray")],
    ids=["systemd", "openrc"],
)
async def test_a_restart_cut_by_the_deadline_leaves_no_process(
    fake_programs: FakePrograms, tmp_path: Path, restarter: Restarter
):
    """When the caller's deadline fires, the command and the child it started are
    killed, the command is reaped, and the cancellation propagates."""
    pids_fifo = tmp_path / "pids"
    os.mkfifo(pids_fifo)
    # Read-write, so opening never blocks and reads wait for the fake's line.
    fifo = os.open(pids_fifo, os.O_RDWR | os.O_NONBLOCK)
    fake_programs.behave("systemctl", hang=pids_fifo)
    fake_programs.behave("rc-service", hang=pids_fifo)
    returned: list[RestartResult] = []

    async def restart() -> None:
        returned.append(await restarter.restart())

    pids: tuple[int, int] | None = None
    with trio.move_on_after(PROCESS_WAIT_SECS) as deadline:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(restart)
            pids = await read_pids(fifo)
            deadline.deadline = trio.current_time()  # the caller's deadline fires now

    assert pids is not None, "the fake never started"
    assert deadline.cancelled_caught
    assert returned == []
    command_pid, child_pid = pids
    # The command was our child: killed and reaped before the cancellation went on.
    with pytest.raises(ProcessLookupError):
        os.kill(command_pid, 0)
    # Its child, in the same process group, was killed with it.
    with trio.fail_after(PROCESS_WAIT_SECS):
        await wait_for_exit(child_pid)


# --- building ------------------------------------------------------------------------------


def _settings(mode: RestartMode, **changes: Any) -> ComponentSettings:
    return ComponentSettings(
        health_interval_secs=2,
        fails_before_down=3,
        restart_mode=mode,
        restart_cooldown_secs=30,
        restart_timeout_secs=20,
        restart_backoff_max_secs=600,
        systemd_unit="xray.service",
        openrc_service="xray",
        **changes,
    )


def test_build_restarter_follows_the_restart_mode():
    """Each restart mode gets its restarter, saying how it restarts; `none` gets none."""
    assert build_restarter(_settings(RestartMode.NONE)) is None

    systemd = build_restarter(_settings(RestartMode.SYSTEMD))
    openrc = build_restarter(_settings(RestartMode.OPENRC))
    command = build_restarter(_settings(RestartMode.COMMAND, restart_command=("x", "-y")))

    assert systemd == SystemdRestarter("xray.service")
    assert openrc == OpenRCRestarter("xray")
    assert command == CommandRestarter(("x", "-y"))
    assert [r.how for r in (systemd, openrc, command) if r] == ["systemd", "openrc", "command"]
    with pytest.raises(ValueError, match="restart command"):
        build_restarter(_settings(RestartMode.COMMAND))


# --- run_command ---------------------------------------------------------------------------


async def test_run_command_keeps_only_the_tail_of_a_chatty_program(fake_programs: FakePrograms):
    """A program writing a lot keeps only the last bytes of each stream."""
    script = (
        'i=0; while [ "$i" -lt 3000 ]; do echo "out line $i"; echo "err line $i" >&2;'
        " i=$((i+1)); done"
    )

    result = await run_command(["sh", "-c", script])

    assert result.ok
    assert len(result.stdout) == len(result.stderr) == TAIL_BYTES
    assert result.stdout.endswith(b"out line 2999\n")
    assert result.last_line == "err line 2999"


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("echo active; echo inactive; exit 3", "exit 3: inactive"),
        ("echo progress; echo 'failed: no' >&2; echo; exit 4", "exit 4: failed: no"),
        ("exit 3", "exit 3"),
        ("printf 'bad \\377 byte\\n' >&2; exit 1", "exit 1: bad \ufffd byte"),
        ("kill -9 $$", "killed by signal 9"),
        ('read line; echo "stdin gave ${line:-nothing}"; exit 2', "exit 2: stdin gave nothing"),
    ],
)
async def test_run_command_reason(fake_programs: FakePrograms, script: str, reason: str):
    """The reason is the exit status (or signal) and the last non-empty output line,
    stderr first; stdin is empty."""
    result = await run_command(["sh", "-c", script])

    assert result.reason == reason


async def test_run_command_of_a_path_that_cannot_run(fake_programs: FakePrograms, tmp_path: Path):
    """A program given by path that is missing or not executable is a result, not an error."""
    not_executable = tmp_path / "script"
    not_executable.write_text("#!/bin/sh\n")

    missing = await run_command([str(tmp_path / "missing")])
    refused = await run_command([str(not_executable)])

    assert missing == CommandResult.not_started(
        (str(tmp_path / "missing"),), f"{tmp_path / 'missing'}: not found"
    )
    assert not refused.started
    assert refused.reason == f"{not_executable}: not an executable file"


async def test_run_command_needs_a_program():
    """An empty argv is a programming error."""
    with pytest.raises(ValueError, match="program"):
        await run_command([])


async def test_run_command_returns_when_a_background_child_keeps_its_pipes(
    fake_programs: FakePrograms,
):
    """A program that exits leaving a child that holds its output open still returns
    soon; the child is left running (a restart command may start a daemon)."""
    with trio.fail_after(PROCESS_WAIT_SECS):
        result = await run_command(["sh", "-c", "sleep 1000 & echo $!"])
    child_pid = int(result.stdout)
    try:
        assert result.ok
        os.kill(child_pid, 0)  # still there
    finally:
        os.kill(child_pid, signal.SIGKILL)
