"""Running an external program the way probes and restarters need it.

`run_command` runs a program found on `PATH` (never through a shell), with stdin
on /dev/null and the tails of stdout and stderr kept, and reports how it ended as a
`CommandResult`. It takes no timeout: the caller wraps it in `trio.move_on_after`.
The program starts in a new session, so it leads its own process group; when the
call is cancelled, that whole group is killed with SIGKILL and the program reaped
before `Cancelled` propagates, so no zombie and no grandchild is left behind.

A program that exits on its own is not chased further: a restart command may
rightly leave a daemon running in its group.

A failure's reason is its exit status and the output line that names the cause
(`CommandResult.reason`): for systemctl, rc-service, doas and sudo that is not
always the last line, since they end with pointers to logs and advice.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence

import attrs
import trio

from ._logging import logger

__all__ = ["MAX_REASON_LINE_CHARS", "TAIL_BYTES", "CommandResult", "command_argv", "run_command"]

#: How much of the end of stdout and of stderr is kept.
TAIL_BYTES = 4096
#: A reason line longer than this is cut (it ends up in events and logs).
MAX_REASON_LINE_CHARS = 300
#: After the program exited, how long its pipes may stay open before we stop reading:
#: a background grandchild can hold them open forever.
_DRAIN_SECS = 0.5
#: How long a SIGKILLed group gets to be reaped before we give up on it.
_REAP_SECS = 5.0


# What the init systems and privilege tools print around the line that names the
# cause, as in the real outputs (tests/test_restart_reasons.py holds them verbatim).
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: OpenRC's `einfo`/`eerror` bullet and the `eend` status marker.
_OPENRC_BULLET = re.compile(r"^\*\s+")
_OPENRC_STATUS = re.compile(r"\s*\[\s*(ok|!!)\s*\]$")
#: Lines that only point elsewhere: systemctl's "See …" / "To force a start use …" /
#: "followed by … again." after a failed job, sudo's advice after its refusal.
_BOILERPLATE = re.compile(
    r"""^(?:
        See\ ".*"\ (?:and\ ".*"\ )?for\ details\.
      | See\ (?:system|user)\ logs\ and\ '.*'\ for\ details\.
      | To\ force\ a\ start\ use\ ".*"
      | followed\ by\ ".*"\ again\.
      | sudo:\ If\ sudo\ is\ running\ in\ a\ container,.*
    )$""",
    re.VERBOSE,
)
#: OpenRC's summary of a failed start or stop, which a more specific line precedes
#: when there is one (`start-stop-daemon: failed to start `/usr/bin/xray'`).
_OPENRC_SUMMARY = re.compile(
    r"^(?:ERROR: \S+ failed to (?:start|stop)|[Ff]ailed to (?:start|stop) \S+)$"
)


def _clean(line: str) -> str:
    line = _ANSI_ESCAPE.sub("", line).strip()
    line = _OPENRC_STATUS.sub("", _OPENRC_BULLET.sub("", line))
    return line.strip()


def _shorten(line: str) -> str:
    if len(line) > MAX_REASON_LINE_CHARS:
        line = line[: MAX_REASON_LINE_CHARS - 1] + "…"
    return line


def _last_line(data: bytes) -> str | None:
    """The last line of `data` that names a cause, cleaned of markers.

    Blank lines and boilerplate are skipped; an OpenRC summary (`ERROR: xray
    failed to start`) gives way to the more specific line before it, if any.
    """
    lines = [_clean(line) for line in data.decode(errors="replace").splitlines()]
    meaningful = [line for line in lines if line and not _BOILERPLATE.match(line)]
    if not meaningful:
        return None
    last = meaningful[-1]
    if _OPENRC_SUMMARY.match(last):
        cause = next(
            (
                line
                for line in reversed(meaningful)
                if not _OPENRC_SUMMARY.match(line) and not line.startswith("WARNING:")
            ),
            None,
        )
        last = cause or last
    return _shorten(last)


@attrs.frozen
class CommandResult:
    """How one run of a program ended.

    `returncode` is None when the program could not be started (`error` says
    why), negative when it was killed by a signal. `stdout`/`stderr` hold at most
    the last `TAIL_BYTES` of each.
    """

    argv: tuple[str, ...]
    returncode: int | None
    stdout: bytes = b""
    stderr: bytes = b""
    error: str | None = None

    @classmethod
    def not_started(cls, argv: tuple[str, ...], error: str) -> CommandResult:
        return cls(argv=argv, returncode=None, error=error)

    @property
    def started(self) -> bool:
        return self.returncode is not None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def last_line(self) -> str | None:
        """The last line of stderr (or of stdout, when stderr has none) that names the
        cause: blank lines, pointers such as systemctl's `See "systemctl status …"`
        and OpenRC's markers are left out."""
        return _last_line(self.stderr) or _last_line(self.stdout)

    @property
    def reason(self) -> str:
        """`exit 3: inactive`, `exit 3`, `killed by signal 9`, `systemctl: not found on PATH`."""
        if self.returncode is None:
            return self.error or f"{self.argv[0]}: not started"
        if self.returncode < 0:
            head = f"killed by signal {-self.returncode}"
        else:
            head = f"exit {self.returncode}"
        line = self.last_line
        return f"{head}: {line}" if line else head


def _cannot_start(argv: tuple[str, ...]) -> str:
    """Why `shutil.which` found nothing to run for `argv[0]`."""
    program = argv[0]
    if os.sep not in program:
        return f"{program}: not found on PATH"
    if not os.path.exists(program):
        return f"{program}: not found"
    return f"{program}: not an executable file"


async def _keep_tail(stream: trio.abc.ReceiveStream, tail: bytearray) -> None:
    while chunk := await stream.receive_some(TAIL_BYTES):
        tail += chunk
        del tail[:-TAIL_BYTES]


def _kill_group(process: trio.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the whole group is gone already
    except PermissionError:
        # Some member runs as another user (a setuid doas/sudo and what it started):
        # we can only kill our own child.
        logger.warning(
            "cannot kill all of process group %d (%s): not permitted", process.pid, process.args
        )
        process.kill()


async def run_command(argv: Sequence[str]) -> CommandResult:
    """Run `argv` (its first item looked up on `PATH`) to completion.

    A program that is missing or not executable is a result, not an exception.
    Cancellation kills the program's whole process group and reaps it first.
    """
    args = tuple(argv)
    if not args:
        raise ValueError("run_command needs a program to run")
    executable = shutil.which(args[0])
    if executable is None:
        return CommandResult.not_started(args, _cannot_start(args))
    try:
        process = await trio.lowlevel.open_process(
            args,
            executable=executable,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return CommandResult.not_started(args, f"{args[0]}: cannot run: {exc.strerror or exc}")
    assert process.stdout is not None
    assert process.stderr is not None
    stdout, stderr = bytearray(), bytearray()
    finished = False
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_keep_tail, process.stdout, stdout)
            nursery.start_soon(_keep_tail, process.stderr, stderr)
            await process.wait()
            # Reads normally reach EOF at once; this only bounds a pipe held open
            # by a grandchild. The nursery absorbs its own deadline.
            nursery.cancel_scope.deadline = trio.current_time() + _DRAIN_SECS
        finished = True
    finally:
        with trio.move_on_after(_REAP_SECS, shield=True) as reaping:
            if not finished:
                _kill_group(process)
            await process.wait()
            await trio.aclose_forcefully(process.stdout)
            await trio.aclose_forcefully(process.stderr)
        if reaping.cancelled_caught:
            logger.warning(
                "process %d (%s) did not exit %gs after SIGKILL", process.pid, args, _REAP_SECS
            )
    return CommandResult(
        argv=args, returncode=process.returncode, stdout=bytes(stdout), stderr=bytes(stderr)
    )


def command_argv(value: Sequence[str]) -> tuple[str, ...]:
    """`value` as an argv tuple; refuses an empty one (there is nothing to run)."""
    argv = tuple(value)
    if not argv:
        raise ValueError("a command needs a program to run")
    return argv
