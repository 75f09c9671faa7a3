"""A wrong wall clock neither destroys history nor hides measured time.

Two operators' reports, as regression tests: a host without an RTC that boots in
1970 (its clock is corrected by NTP seconds later), and an RTC kept in local time
(UTC+8) that starts the agent eight hours ahead before NTP steps it back. Then the
same rule wherever a restored or recorded time meets `now`: slot pruning, event
retention, restart backoff, write schedule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from tests.grpc_xray import running_xray_api
from tests.test_daemon_process import (
    NODE_ID,
    SERVING,
    agent_env,
    read_state,
    running_agent,
    stop_cleanly,
)
from tests.test_supervisor import SwitchableProbe, component_settings
from xpagent.core import (
    Component,
    ComponentState,
    ComponentStatus,
    EventKind,
    EventLevel,
    NodeRuntime,
    ProbeResult,
    RestartPolicy,
    Slot,
    Summary,
    WriteSchedule,
    decode_state,
    encode_state,
    restart_due,
    restore,
)
from xpagent.daemon import STATE_FILE_NAME, load_state, write_state
from xpagent.daemon._clock import TrioWallClock
from xpagent.daemon._hub import Hub
from xpagent.daemon._recorder import Recorder
from xpagent.daemon._settings import RestartMode
from xpagent.daemon._supervisor import Supervisor

BOOT_1970 = datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC)
#: The previous run: two days of history, 96 slots, written at its clean stop.
HISTORY_START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
LAST_WRITE = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
BEHIND_WARNING = "clock is 56 years behind the state file's last write"
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")


def two_days_of_history(node_id: str = "node-a") -> bytes:
    """A state file written at LAST_WRITE by an agent that ran the 48 hours before it."""
    runtime = NodeRuntime.new(node_id, enabled={Component.XRAY})
    runtime = runtime.started(HISTORY_START, enabled={Component.XRAY}, previous=None).runtime
    now = HISTORY_START
    while now < LAST_WRITE:
        now += timedelta(minutes=5)
        update = runtime.probed(Component.XRAY, ProbeResult.success(), now, fails_before_down=3)
        runtime = update.runtime
    runtime = runtime.stopped(LAST_WRITE).runtime
    return encode_state(runtime, LAST_WRITE)


def observed_slots(slots: tuple[Slot, ...]) -> list[Slot]:
    return [slot for slot in slots if slot.observed_secs > 0]


# --- the 1970 boot ------------------------------------------------------------------


def test_a_1970_boot_keeps_the_96_observed_slots(tmp_path: Path) -> None:
    """Started at 1970-01-01 with 96 observed slots on disk, the agent keeps all 96
    through its writes, warns once, and shows them again when NTP fixes the clock."""
    path = tmp_path / STATE_FILE_NAME
    path.write_bytes(two_days_of_history())
    assert len(observed_slots(decode_state(path.read_bytes()).recent_slots)) == 96

    loaded = load_state(path, node_id="node-a", now=BOOT_1970)
    assert loaded.runtime is not None
    update = loaded.runtime.started(
        BOOT_1970, enabled={Component.XRAY}, previous=loaded.previous, monotonic=100.0
    )
    # The agent runs a minute in 1970 and writes its file (more than once).
    runtime = update.runtime
    for second in range(2, 62, 2):
        now = BOOT_1970 + timedelta(seconds=second)
        runtime = runtime.probed(
            Component.XRAY, ProbeResult.success(), now, fails_before_down=3, monotonic=100 + second
        ).runtime
        write_state(path, encode_state(runtime, now))
    on_disk = decode_state(path.read_bytes(), node_id="node-a")
    assert len(observed_slots(on_disk.recent_slots)) == 96
    warnings = [e for e in update.events if e.kind is EventKind.CLOCK_WARNING]
    assert [(e.component, e.level, e.message) for e in warnings] == [
        (Component.XP, EventLevel.WARNING, BEHIND_WARNING)
    ]
    assert BEHIND_WARNING in [event.message for event in on_disk.events]

    # NTP steps the clock to the right time: the history is all there.
    fixed = LAST_WRITE + timedelta(minutes=10)
    update = runtime.advanced(fixed, monotonic=162.0)
    assert [e.message for e in update.events] == ["clock stepped forward by 56 years"]
    before = [s for s in update.runtime.recent_slots(fixed) if s.slot_start < LAST_WRITE]
    assert [slot.observed_secs for slot in observed_slots(tuple(before))] == [1800] * 96


def test_a_second_boot_in_1970_still_keeps_the_history_and_warns() -> None:
    """A file last written at 1970 but holding 2026 data is still ahead of the clock."""
    runtime, previous = restore(decode_state(two_days_of_history()))
    runtime = runtime.started(BOOT_1970, enabled={Component.XRAY}, previous=previous).runtime
    rewritten = encode_state(runtime, BOOT_1970 + timedelta(seconds=30))

    again, previous = restore(decode_state(rewritten))
    update = again.started(BOOT_1970, enabled={Component.XRAY}, previous=previous)
    assert len(observed_slots(update.runtime.history.slots)) == 96
    assert BEHIND_WARNING in [e.message for e in update.events]


@pytest.mark.slow
@pytest.mark.skipif(not FAKETIME_LIB.exists(), reason="Debian's faketime package is needed")
async def test_xpagent_run_booted_in_1970_keeps_its_history(tmp_path: Path) -> None:
    """A real `xpagent run` under libfaketime at 1970-01-01: it starts, warns in its log
    and as an event, and its final write still holds the 96 slots of 2026."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / STATE_FILE_NAME).write_bytes(two_days_of_history(NODE_ID))
    with running_xray_api() as xray_api:
        env = agent_env(data_dir, xray_api.addr)
        env.update(
            LD_PRELOAD=str(FAKETIME_LIB),
            FAKETIME="@1970-01-01 00:00:05",
            FAKETIME_DONT_FAKE_MONOTONIC="1",
        )
        async with running_agent(env) as agent:
            await agent.wait_for_log(SERVING)
            await stop_cleanly(agent)
    state = read_state(data_dir)
    assert len(observed_slots(state.recent_slots)) == 96
    assert BEHIND_WARNING in [event.message for event in state.events]
    warnings = [r for r in agent.records if r["message"] == BEHIND_WARNING]
    assert [r["level"] for r in warnings] == ["warning"]
    assert state.last_snapshot.checked_at.year == 1970


# --- the RTC in local time -------------------------------------------------------------


@attrs.define
class SteppableClock:
    """A wall clock moving with trio's clock, which a test can set like NTP does."""

    base: TrioWallClock
    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return self.base() + self.offset


REAL_START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


async def test_an_outage_after_the_clock_steps_back_8_hours_is_counted(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """An RTC in UTC+8 starts the agent 8 h ahead; NTP steps the clock back; xray is then
    down for 10 minutes. The current slot counts those 10 minutes (observed and down),
    and the step is one `xp` warning."""
    clock = SteppableClock(TrioWallClock(REAL_START + timedelta(hours=8)))
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    recorder = Recorder(
        runtime, path=tmp_path / STATE_FILE_NAME, hub=Hub(), clock=clock, write_in_thread=False
    )
    now = recorder.now()
    recorder.apply(
        runtime.started(
            now, enabled={Component.XRAY}, previous=None, monotonic=recorder.monotonic()
        ),
        at=now,
    )
    probe = SwitchableProbe()
    supervisor = Supervisor(
        Component.XRAY,
        probe,
        None,
        component_settings(restart_mode=RestartMode.NONE),
        recorder,
        probe_deadline_secs=1,
    )
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        await trio.sleep_until(start + 301)  # five minutes at "10:05" (8 h ahead)
        clock.offset = -timedelta(hours=8)  # NTP: it is 02:05:01
        probe.down = True
        await trio.sleep_until(start + 900.5)  # ten minutes later: 02:15:00.5
        nursery.cancel_scope.cancel()

    now = recorder.now()
    assert now == datetime(2026, 11, 28, 2, 15, 0, 500_000, tzinfo=UTC)
    current = recorder.runtime.recent_slots(now)[-1]
    assert current.slot_start == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    xray = current.status_of(Component.XRAY)
    assert (current.summary, xray) == (Summary.DOWN, ComponentStatus.DOWN)
    # 02:05:00–02:15:00 measured; down from the third failed probe (02:05:06) on.
    assert (current.observed_secs, current.down_secs) == (600, 594)
    warnings = [e for e in recorder.runtime.events if e.kind is EventKind.CLOCK_WARNING]
    assert [(e.level, e.message) for e in warnings] == [
        (EventLevel.WARNING, "clock stepped back by 8 hours")
    ]
    # The five minutes counted while the clock was ahead are kept, not dropped.
    ahead = [s for s in recorder.runtime.history.slots if s.slot_start.hour == 10]
    assert [slot.observed_secs for slot in ahead] == [300]


async def test_a_clock_step_is_logged_once(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The recorder logs the step's warning like any event, once."""
    clock = SteppableClock(TrioWallClock(REAL_START))
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    recorder = Recorder(
        runtime, path=tmp_path / STATE_FILE_NAME, hub=Hub(), clock=clock, write_in_thread=False
    )
    now = recorder.now()
    recorder.apply(
        runtime.started(
            now, enabled={Component.XRAY}, previous=None, monotonic=recorder.monotonic()
        ),
        at=now,
    )
    with caplog.at_level("WARNING", logger="xpagent"):
        await trio.sleep(2)
        recorder.record_probe(Component.XRAY, ProbeResult.success(), fails_before_down=3)
        clock.offset = timedelta(minutes=90)
        for _ in range(3):
            await trio.sleep(2)
            recorder.record_probe(Component.XRAY, ProbeResult.success(), fails_before_down=3)
    assert [r.getMessage() for r in caplog.records] == [
        "clock stepped forward by 1 hour 30 minutes"
    ]


# --- the same rule wherever a recorded time meets now ----------------------------------


def test_restored_events_are_not_pruned_against_a_clock_behind_them() -> None:
    """Event retention only drops events seven days older than `now`: a clock behind
    them drops none."""
    runtime, previous = restore(decode_state(two_days_of_history()))
    before = runtime.events
    update = runtime.started(BOOT_1970, enabled={Component.XRAY}, previous=previous)
    assert set(before) <= set(update.runtime.events)


def test_a_restart_wait_is_not_held_off_by_a_clock_behind_the_outage() -> None:
    """A component down since 12:00 with no request yet, and the clock set back to
    04:00: the restart is due now, not in eight hours."""
    policy = RestartPolicy(enabled=True, cooldown_secs=30, backoff_max_secs=600)
    down_at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    state = ComponentState(
        Component.XRAY, status=ComponentStatus.DOWN, checked_at=down_at, down_since=down_at
    )
    assert restart_due(state, policy, down_at)
    assert restart_due(state, policy, down_at - timedelta(hours=8))


def test_a_restored_restart_time_ahead_of_the_clock_does_not_hold_restarts_off() -> None:
    """The backoff's last request restored from a 2026 file, the clock in 1970: due now."""
    policy = RestartPolicy(enabled=True, cooldown_secs=30, backoff_max_secs=600)
    state = ComponentState(
        Component.XRAY,
        status=ComponentStatus.DOWN,
        checked_at=BOOT_1970,
        down_since=BOOT_1970,
        restart_attempts=5,
        last_restart_at=LAST_WRITE,
    )
    assert restart_due(state, policy, BOOT_1970)


def test_a_pending_change_is_written_at_once_when_the_clock_is_set_back_before_it() -> None:
    """A change noted at 12:00 before any write, then the clock set back to 04:00: the
    write is due now, not when the clock reaches 12:00 again."""
    schedule = WriteSchedule().changed(datetime(2026, 11, 28, 12, 0, tzinfo=UTC), new_events=True)
    assert schedule.write_due(datetime(2026, 11, 28, 4, 0, tzinfo=UTC))


def test_small_disagreements_between_the_clocks_are_not_steps() -> None:
    """Within the tolerance (2 s) the wall clock is followed: intervals chain exactly and
    nothing is reported."""
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    runtime = runtime.started(
        REAL_START, enabled={Component.XRAY}, previous=None, monotonic=0.0
    ).runtime
    update = runtime.advanced(REAL_START + timedelta(seconds=61), monotonic=60.0)
    assert update.events == ()
    assert update.runtime.recent_slots(REAL_START)[-1].observed_secs == 61


def test_the_wall_clock_alone_still_counts_as_before() -> None:
    """A caller without a monotonic clock (the demo's prefill) keeps the old accounting:
    the wall clock measures, and a step back counts nothing for its interval."""
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    runtime = runtime.started(REAL_START, enabled={Component.XRAY}, previous=None).runtime
    runtime = runtime.ticked(REAL_START + timedelta(minutes=2))
    runtime = runtime.ticked(REAL_START + timedelta(minutes=1))
    assert runtime.recent_slots(REAL_START)[-1].observed_secs == 120
    assert all(e.kind is not EventKind.CLOCK_WARNING for e in runtime.events)


async def test_a_write_abandoned_at_shutdown_never_replaces_a_later_one(tmp_path: Path) -> None:
    """Writes run in worker threads and one cancelled at shutdown is left to finish:
    if it finishes after the final write, the file keeps the final (later) state."""
    path = tmp_path / STATE_FILE_NAME
    now = REAL_START
    runtime = NodeRuntime.new("node-a", enabled={Component.XRAY})
    started = runtime.started(now, enabled={Component.XRAY}, previous=None).runtime
    stopped = started.stopped(now + timedelta(seconds=5)).runtime
    recorder = Recorder(started, path=path, hub=Hub(), clock=TrioWallClock(now))
    # The final write (started later, seq 2) wins the lock first; the abandoned
    # earlier one (seq 1) finishes after it.
    recorder._encode_and_write(stopped, now + timedelta(seconds=5), 2)
    recorder._encode_and_write(started, now + timedelta(seconds=1), 1)
    loaded = load_state(path, node_id="node-a", now=now + timedelta(seconds=6))
    assert loaded.runtime is not None
    assert loaded.runtime.component(Component.XP).status is ComponentStatus.DOWN
