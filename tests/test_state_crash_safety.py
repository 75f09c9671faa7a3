"""Crash safety of the state file: a writer killed at any point leaves the old or the new one."""

from __future__ import annotations

import contextlib
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.state_writer_child import NODE_ID, SEED_TIME, counter_of, state_bytes
from xpagent.core import (
    SUPERVISED,
    Component,
    NodeRuntime,
    ProbeResult,
    RestartResult,
    StateFileError,
    decode_state,
    encode_state,
    restore,
)
from xpagent.daemon import STATE_FILE_NAME, load_state, write_state

WRITER_SCRIPT = Path(__file__).with_name("state_writer_child.py")
KILLS = 200
MAX_WRITES_BEFORE_KILL = 4
MAX_SPIN_SECS = 0.001
# Generous: a writer answers in milliseconds; this only turns a hang into a failure.
LINE_TIMEOUT_SECS = 15.0


def _seed_runtime() -> NodeRuntime:
    """Three days of probes every four minutes, xray failing and restarted every 80 min."""
    now = SEED_TIME - timedelta(days=3)
    runtime = (
        NodeRuntime.new(NODE_ID, enabled=SUPERVISED)
        .started(now, enabled=SUPERVISED, previous=None)
        .runtime
    )
    refused = ProbeResult.failure("dial tcp 127.0.0.1:10085: connect: connection refused")
    for step in range(1, 3 * 24 * 15 + 1):
        now = SEED_TIME - timedelta(days=3) + step * timedelta(minutes=4)
        runtime = runtime.probed(
            Component.CLOUDFLARED, ProbeResult.success(), now, fails_before_down=3
        ).runtime
        xray_ok = step % 20 >= 3
        update = runtime.probed(
            Component.XRAY,
            ProbeResult.success() if xray_ok else refused,
            now,
            fails_before_down=2,
        )
        runtime = update.runtime
        if update.events and not xray_ok:
            how = "systemctl restart xray"
            runtime = runtime.restart_requested(Component.XRAY, now, how=how).runtime
            done = now + timedelta(seconds=3)
            runtime = runtime.restart_finished(
                Component.XRAY, RestartResult.success(), done
            ).runtime
    return runtime


class _Lines:
    """The lines of a pipe, each read with a deadline so that a hung writer fails the test."""

    def __init__(self, fd: int, stderr_path: Path) -> None:
        self._fd = fd
        self._buffer = b""
        self._stderr_path = stderr_path

    def next(self) -> str:
        deadline = time.monotonic() + LINE_TIMEOUT_SECS
        while b"\n" not in self._buffer:
            # Poll rather than block: a reader woken by the writer's report tends to
            # preempt the writer on its CPU, and every kill would then land right
            # after a report instead of at a random point of a write.
            while not select.select([self._fd], [], [], 0)[0]:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"no line from the writer in {LINE_TIMEOUT_SECS} s; {self._stderr()}"
                    )
            chunk = os.read(self._fd, 65536)
            if not chunk:
                pytest.fail(f"the writer server closed its stdout; {self._stderr()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def _stderr(self) -> str:
        return f"its stderr: {self._stderr_path.read_text()!r}"


class _WriterServer:
    """The test's side of `state_writer_child.py`: spawn a writer, kill it, collect its reports."""

    def __init__(self, process: subprocess.Popen[bytes], stderr_path: Path) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self._stdin = process.stdin
        self._lines = _Lines(process.stdout.fileno(), stderr_path)
        self.writer: int | None = None
        assert self._lines.next() == "ready"

    def _send(self, command: str) -> None:
        self._stdin.write(f"{command}\n".encode())
        self._stdin.flush()

    def kill_writer(self, *, start: int, reads: int, spin_secs: float) -> list[int]:
        """Start a writer at `start`, kill it after `reads` reports and a spin; all its reports."""
        self._send(f"spawn {start}")
        kind, pid = self._lines.next().split()
        assert kind == "started"
        self.writer = int(pid)
        reported = [self._written(self._lines.next()) for _ in range(reads)]
        _spin(spin_secs)
        os.kill(self.writer, signal.SIGKILL)
        self._send("reap")
        while not (line := self._lines.next()).startswith("exited "):
            reported.append(self._written(line))
        _, pid, status = line.split()
        assert int(pid) == self.writer
        self.writer = None
        assert os.WIFSIGNALED(int(status)), f"the writer exited by itself: status {status}"
        assert os.WTERMSIG(int(status)) == signal.SIGKILL
        assert reported == list(range(start, start + len(reported)))
        return reported

    @staticmethod
    def _written(line: str) -> int:
        kind, counter = line.split()
        assert kind == "written", line
        return int(counter)


def _spin(secs: float) -> None:
    """Burn CPU for `secs`, so that the kill lands at a random point of a write."""
    deadline = time.perf_counter() + secs
    while time.perf_counter() < deadline:
        pass


@contextlib.contextmanager
def _open_writer_server(state_path: Path, seed_path: Path, tmp: Path) -> Iterator[_WriterServer]:
    stderr_path = tmp / "writer.stderr"
    command = [sys.executable, str(WRITER_SCRIPT), str(state_path), str(seed_path)]
    with (
        stderr_path.open("wb") as stderr,
        subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        ) as process,
    ):
        server: _WriterServer | None = None
        try:
            server = _WriterServer(process, stderr_path)
            yield server
        finally:
            if server is not None and server.writer is not None and process.poll() is None:
                # Not reaped by its live server yet, so this pid is still our writer's.
                os.kill(server.writer, signal.SIGKILL)
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=LINE_TIMEOUT_SECS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.slow
def test_a_killed_writer_leaves_the_last_reported_state_or_the_next(tmp_path: Path) -> None:
    """A writer SIGKILLed anywhere leaves its last reported state or the next, loadable as is."""
    seed_path = tmp_path / "seed.json"
    seed_path.write_bytes(encode_state(_seed_runtime(), SEED_TIME))
    base, _ = restore(decode_state(seed_path.read_bytes(), node_id=NODE_ID))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    state_path = data_dir / STATE_FILE_NAME
    write_state(state_path, state_bytes(base, 0))
    rng = random.Random()
    on_disk = 0
    interrupted_writes = 0

    with _open_writer_server(state_path, seed_path, tmp_path) as server:
        for kill in range(KILLS):
            reported = server.kill_writer(
                start=on_disk + 1,
                reads=rng.randint(1, MAX_WRITES_BEFORE_KILL),
                spin_secs=rng.uniform(0, MAX_SPIN_SECS) if rng.random() < 0.7 else 0.0,
            )
            last = reported[-1]
            data = state_path.read_bytes()
            try:
                state = decode_state(data, node_id=NODE_ID)
            except StateFileError as exc:
                pytest.fail(f"kill {kill}, after write {last}: the file does not decode: {exc}")
            on_disk = counter_of(state)
            assert on_disk in (last, last + 1), f"kill {kill}: state {on_disk} after write {last}"
            # Equal bytes: no mix of two states, nothing left of a longer older file.
            assert data == state_bytes(base, on_disk), f"kill {kill}: not exactly state {on_disk}"

            interrupted_writes += any(p.name != STATE_FILE_NAME for p in data_dir.iterdir())
            loaded = load_state(state_path, node_id=NODE_ID, now=SEED_TIME)
            assert loaded.reset_reason is None, f"kill {kill}: {loaded.reset_reason}"
            assert loaded.kept_aside is None
            assert loaded.runtime == restore(state)[0]
            assert [p.name for p in data_dir.iterdir()] == [STATE_FILE_NAME]

    # Otherwise the kills all fell between writes and the test proved nothing.
    assert interrupted_writes > 0
