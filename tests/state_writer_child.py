"""A fork server whose children write state files until they are killed.

Used by `test_state_crash_safety.py`; run as

    python tests/state_writer_child.py STATE_FILE SEED_FILE

It imports everything and restores the seed runtime once, says `ready`, then
reads commands on stdin, one per line:

- `spawn N`: fork a writer that says `started PID`, then writes the states N,
  N + 1, ... with `write_state` and says `written K` after each write returns,
  until it is killed. The server encodes the next `LOOKAHEAD` states before it
  forks, so that a writer spends its time in `write_state`, where the kills
  matter, rather than in `encode_state`;
- `reap`: wait for that writer and say `exited PID WAIT_STATUS`.

Every line goes straight to stdout with one `os.write`, so a writer's lines all
come before the `exited` line that follows its death. A writer's pid cannot be
reused before `reap`, which makes killing it by pid safe. Forking from one
long-lived process keeps a kill cycle far shorter than an interpreter start-up.

`state_bytes(base, K)` is deterministic, so the test computes the same bytes to
compare the file with.
"""

from __future__ import annotations

import itertools
import os
import sys
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from xpagent.core import (
    Component,
    EventLog,
    NodeRuntime,
    ProbeResult,
    StateFile,
    decode_state,
    encode_state,
    restore,
)
from xpagent.daemon import write_state

NODE_ID = "crash-node"
SEED_TIME = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
LOOKAHEAD = 64
_SECOND = timedelta(seconds=1)
# High enough that the failing probes of `state_bytes` never take xray down,
# which would record an event with a random ULID.
_NEVER_DOWN = 1_000_000_000


def state_bytes(base: NodeRuntime, counter: int) -> bytes:
    """The state file the writers write for `counter`.

    The counter is in the snapshot time (`SEED_TIME` + `counter` seconds) and in
    xray's failure count and last error; the newest `counter % 100` events of
    `base` are left out so that consecutive files differ in length too.
    """
    now = SEED_TIME + counter * _SECOND
    events = base.events[counter % 100 :]
    runtime = attrs.evolve(base, event_log=EventLog(events))
    for _ in range(counter % 7 + 1):
        runtime = runtime.probed(
            Component.XRAY,
            ProbeResult.failure(f"write #{counter}: stats API timed out after 2 s"),
            now,
            fails_before_down=_NEVER_DOWN,
        ).runtime
    return encode_state(runtime, now)


def counter_of(state: StateFile) -> int:
    """The counter `state_bytes` wrote into a state."""
    return (state.last_snapshot.checked_at - SEED_TIME) // _SECOND


def _say(line: str) -> None:
    os.write(sys.stdout.fileno(), f"{line}\n".encode())


def _write_until_killed(
    path: Path, base: NodeRuntime, encoded: dict[int, bytes], start: int, server_pid: int
) -> None:
    _say(f"started {os.getpid()}")
    for counter in itertools.count(start):
        # Never outlive a server that died: nobody would kill this writer.
        if os.getppid() != server_pid:
            return
        data = encoded.get(counter) or state_bytes(base, counter)
        write_state(path, data)
        _say(f"written {counter}")


def _spawn(path: Path, base: NodeRuntime, encoded: dict[int, bytes], start: int) -> int:
    for counter in list(encoded):
        if counter < start:
            del encoded[counter]
    for counter in range(start, start + LOOKAHEAD):
        if counter not in encoded:
            encoded[counter] = state_bytes(base, counter)
    server_pid = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    # The writer: it must never return into the server's loop.
    try:
        _write_until_killed(path, base, encoded, start, server_pid)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(1)


def main(argv: list[str]) -> None:
    state_path, seed_path = Path(argv[1]), Path(argv[2])
    base, _ = restore(decode_state(seed_path.read_bytes(), node_id=NODE_ID))
    encoded: dict[int, bytes] = {}
    writer: int | None = None
    _say("ready")
    for command in sys.stdin:
        match command.split():
            case ["spawn", start] if writer is None:
                writer = _spawn(state_path, base, encoded, int(start))
            case ["reap"] if writer is not None:
                _, status = os.waitpid(writer, 0)
                _say(f"exited {writer} {status}")
                writer = None
            case _:
                raise SystemExit(f"unexpected command {command!r}")


if __name__ == "__main__":
    main(sys.argv)
