"""A failed restart says why: the line of the real tool's output that names the cause.

The outputs below are verbatim. The doas and sudo ones were captured from Debian 12's
doas 6.8.2 and sudo 1.9.13 run as an unprivileged user; the systemctl ones follow
systemd 252's `bus-wait-for-jobs.c` and `systemctl-start-unit.c` (note the empty line
after "for details."), the OpenRC ones its `openrc-run.c`, `rc-service.c` and
`supervise-daemon.c`. They reach the restarters through the fake programs of
`tests/fakes`, exactly as a real program's output would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio

from tests.conftest import FakePrograms
from xpagent.core import Component, EventKind, NodeRuntime, ProbeResult, RestartResult
from xpagent.daemon._clock import TrioWallClock
from xpagent.daemon._hub import Hub
from xpagent.daemon._recorder import Recorder
from xpagent.daemon._restarters import OpenRCRestarter, Restarter, SystemdRestarter
from xpagent.daemon._settings import ComponentSettings, RestartMode
from xpagent.daemon._state_store import STATE_FILE_NAME
from xpagent.daemon._supervisor import Supervisor

SYSTEMCTL_START_LIMIT_HIT = """\
Job for xray.service failed because start of the service was attempted too often.
See "systemctl status xray.service" and "journalctl -xeu xray.service" for details.

To force a start use "systemctl reset-failed xray.service"
followed by "systemctl start xray.service" again."""

SYSTEMCTL_EXIT_CODE = """\
Job for xray.service failed because the control process exited with error code.
See "systemctl status xray.service" and "journalctl -xeu xray.service" for details.
"""

SYSTEMCTL_NO_POLKIT_RULE = """\
Failed to restart xray.service: Interactive authentication required.
See system logs and 'systemctl status xray.service' for details."""

SYSTEMCTL_NO_SUCH_UNIT = "Failed to restart xray.service: Unit xray.service not found."

OPENRC_BINARY_MISSING = """\
 * supervise-daemon: /usr/local/bin/xray does not exist
 * failed to start xray
 * ERROR: xray failed to start"""
OPENRC_BINARY_MISSING_STDOUT = """\
 * Stopping xray ... [ ok ]
 * Starting xray ... [ !! ]"""

OPENRC_START_FAILED = " * ERROR: xray failed to start"

RC_SERVICE_NO_SUCH_SERVICE = " * rc-service: service `xray' does not exist"

DOAS_NOT_PERMITTED = "doas: Operation not permitted"
DOAS_NOT_ENABLED = "doas: doas is not enabled, /etc/doas.conf: No such file or directory"
DOAS_UNDER_NO_NEW_PRIVS = "doas: not installed setuid"
SUDO_PASSWORD_REQUIRED = "sudo: a password is required"
SUDO_UNDER_NO_NEW_PRIVS = """\
sudo: The "no new privileges" flag is set, which prevents sudo from running as root.
sudo: If sudo is running in a container, you may need to adjust the container configuration to disable the flag."""  # noqa: E501


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            SYSTEMCTL_START_LIMIT_HIT,
            "exit 1: Job for xray.service failed because start of the service was attempted "
            "too often.",
        ),
        (
            SYSTEMCTL_EXIT_CODE,
            "exit 1: Job for xray.service failed because the control process exited with "
            "error code.",
        ),
        (
            SYSTEMCTL_NO_POLKIT_RULE,
            "exit 1: Failed to restart xray.service: Interactive authentication required.",
        ),
        (SYSTEMCTL_NO_SUCH_UNIT, f"exit 1: {SYSTEMCTL_NO_SUCH_UNIT}"),
    ],
    ids=["start-limit-hit", "exit-code", "no-polkit-rule", "no-such-unit"],
)
async def test_systemctl_failures_name_their_cause(
    fake_programs: FakePrograms, stderr: str, reason: str
):
    """systemctl's pointers to `systemctl status`, the journal and `reset-failed` are
    skipped; the reason is the line saying what went wrong."""
    fake_programs.behave("systemctl", exit_status=1, stderr=stderr)

    result = await SystemdRestarter("xray.service").restart()

    assert result == RestartResult.failure(reason)


@pytest.mark.parametrize(
    ("stderr", "stdout", "reason"),
    [
        (
            OPENRC_BINARY_MISSING,
            OPENRC_BINARY_MISSING_STDOUT,
            "doas: exit 1: supervise-daemon: /usr/local/bin/xray does not exist",
        ),
        (OPENRC_START_FAILED, None, "doas: exit 1: ERROR: xray failed to start"),
        (
            RC_SERVICE_NO_SUCH_SERVICE,
            None,
            "doas: exit 1: rc-service: service `xray' does not exist",
        ),
    ],
    ids=["binary-missing", "start-failed", "no-such-service"],
)
async def test_rc_service_failures_name_their_cause(
    fake_programs: FakePrograms, stderr: str, stdout: str | None, reason: str
):
    """OpenRC's bullets and status markers are dropped, and its summary `ERROR: xray
    failed to start` gives way to the line before it that says why, if there is one."""
    fake_programs.behave("rc-service", exit_status=1, stderr=stderr, stdout=stdout)

    result = await OpenRCRestarter("xray").restart()

    assert result == RestartResult.failure(reason)
    assert fake_programs.calls() == ["doas -n rc-service xray restart", "rc-service xray restart"]


@pytest.mark.parametrize(
    ("doas", "sudo", "reason"),
    [
        (
            DOAS_NOT_PERMITTED,
            SUDO_PASSWORD_REQUIRED,
            f"doas: exit 1: {DOAS_NOT_PERMITTED}; sudo: exit 1: {SUDO_PASSWORD_REQUIRED}",
        ),
        (
            DOAS_NOT_ENABLED,
            SUDO_PASSWORD_REQUIRED,
            f"doas: exit 1: {DOAS_NOT_ENABLED}; sudo: exit 1: {SUDO_PASSWORD_REQUIRED}",
        ),
        (
            DOAS_UNDER_NO_NEW_PRIVS,
            SUDO_UNDER_NO_NEW_PRIVS,
            f'doas: exit 1: {DOAS_UNDER_NO_NEW_PRIVS}; sudo: exit 1: sudo: The "no new '
            'privileges" flag is set, which prevents sudo from running as root.',
        ),
    ],
    ids=["not-permitted", "doas-not-enabled", "no-new-privileges"],
)
async def test_doas_and_sudo_refusals_name_their_cause(
    fake_programs: FakePrograms, doas: str, sudo: str, reason: str
):
    """When neither doas nor sudo will run rc-service, the reason gives each refusal,
    and sudo's advice about containers is left out."""
    fake_programs.behave("doas", exit_status=1, stderr=doas)
    fake_programs.behave("sudo", exit_status=1, stderr=sudo)

    result = await OpenRCRestarter("xray").restart()

    assert result == RestartResult.failure(reason)
    assert fake_programs.calls() == [
        "doas -n rc-service xray restart",
        "sudo -n rc-service xray restart",
    ]


# --- the events ---------------------------------------------------------------------------


class DownProbe:
    """xray's API refusing every connection."""

    async def probe(self) -> ProbeResult:
        return ProbeResult.failure("connection refused")


async def _first_restart_failed_message(tmp_path: Path, restarter: Restarter) -> str:
    clock = TrioWallClock(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    recorder = Recorder(
        runtime, path=tmp_path / STATE_FILE_NAME, hub=Hub(), clock=clock, write_in_thread=False
    )
    now = clock()
    recorder.apply(runtime.started(now, enabled={Component.XRAY}, previous=None), at=now)
    settings = ComponentSettings(
        health_interval_secs=1,
        fails_before_down=1,
        restart_mode=RestartMode.SYSTEMD,
        restart_cooldown_secs=30,
        restart_timeout_secs=5,
        restart_backoff_max_secs=600,
        systemd_unit="xray.service",
        openrc_service="xray",
    )
    supervisor = Supervisor(Component.XRAY, DownProbe(), restarter, settings, recorder, 1.0)
    with trio.fail_after(10):  # real processes answer in milliseconds
        async with trio.open_nursery() as nursery:
            nursery.start_soon(supervisor.run)
            while True:
                failed = [
                    event
                    for event in recorder.runtime.events
                    if event.kind is EventKind.RESTART_FAILED
                ]
                if failed:
                    nursery.cancel_scope.cancel()
                    return failed[0].message
                await trio.sleep(0.02)
    raise AssertionError("unreachable")


async def test_a_start_limit_hit_restart_event_names_the_cause(
    fake_programs: FakePrograms, tmp_path: Path
):
    """The `restart_failed` event of a unit past its start limit says so, not "See …"."""
    fake_programs.behave("systemctl", exit_status=1, stderr=SYSTEMCTL_START_LIMIT_HIT)

    message = await _first_restart_failed_message(tmp_path, SystemdRestarter("xray.service"))

    assert message == (
        "xray restart failed: exit 1: Job for xray.service failed because start of the "
        "service was attempted too often."
    )


async def test_an_rc_service_restart_event_names_the_cause(
    fake_programs: FakePrograms, tmp_path: Path
):
    """The `restart_failed` event of a service whose binary is gone names the binary."""
    fake_programs.behave(
        "rc-service",
        exit_status=1,
        stderr=OPENRC_BINARY_MISSING,
        stdout=OPENRC_BINARY_MISSING_STDOUT,
    )

    message = await _first_restart_failed_message(tmp_path, OpenRCRestarter("xray"))

    assert message == (
        "xray restart failed: doas: exit 1: supervise-daemon: /usr/local/bin/xray does not exist"
    )
