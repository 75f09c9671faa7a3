"""Waiting on real processes in tests: pids handed over a FIFO, and exits seen by pidfd."""

from __future__ import annotations

import os

import trio


async def read_pids(fifo: int) -> tuple[int, int]:
    """The `OWN_PID CHILD_PID` line a hanging fake writes to the FIFO open as `fifo`."""
    line = b""
    async with trio.lowlevel.FdStream(fifo) as stream:
        while not line.endswith(b"\n"):
            line += await stream.receive_some()
    command_pid, child_pid = (int(pid) for pid in line.split())
    return command_pid, child_pid


async def wait_for_exit(pid: int) -> None:
    """Wait until `pid` has exited, reaped or not (a pidfd turns readable then).

    Checking for a zombie matters: an orphaned grandchild is reparented to init,
    and where init does not reap (as in some sandboxes) the dead process stays
    listed, so `os.kill(pid, 0)` alone would still succeed.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)
