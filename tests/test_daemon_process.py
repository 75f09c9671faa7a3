"""End to end: a real `xpagent run` process, its signals, its state file and its log.

Each test spawns `python -m xpagent run` with its data in `tmp_path`, xray's API
played by a `FakeXrayApi`, one-second probes and JSON log lines on stderr, and
follows the agent by reading those lines. Every wait is bounded, so an agent that
hangs fails the test instead of blocking it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.conftest import FakePrograms
from tests.grpc_xray import FakeXrayApi, running_xray_api
from tests.processes import read_pids, wait_for_exit
from xpagent.agent_process import AgentProcess, agent_environment, run_agent_process
from xpagent.core import (
    Component,
    ComponentStatus,
    EventKind,
    StateFile,
    decode_state,
    parse_time,
)
from xpagent.daemon import STATE_FILE_NAME

#: Every test here runs real agent processes.
pytestmark = pytest.mark.slow

NODE_ID = "node-e2e"
SERVING = f"node {NODE_ID} serving"
API_LISTENING = "API listening on "
XRAY_UP = "xray status changed: unknown -> up"
XRAY_INTERVAL_SECS = 1
#: CONTRACT §5: after SIGTERM/SIGINT the process exits 0 within 5 s.
STOP_DEADLINE_SECS = 5.0
# Generous: the agent logs within a few seconds; this only turns a hang into a failure.
WAIT_SECS = 10.0
#: Period of the bounded poll of the state file (the agent does not log its writes).
POLL_SECS = 0.05


# --- the agent process -------------------------------------------------------------------


def agent_env(data_dir: Path, xray_api_addr: str, **settings: str) -> dict[str, str]:
    """The environment of an agent: ours without any `XP_*` (or proxy) variable, plus
    the test's settings."""
    return agent_environment(
        {
            "XP_DATA_DIR": str(data_dir),
            "XP_BIND": "127.0.0.1:0",
            "XP_NODE_ID": NODE_ID,
            "XP_XRAY_API_ADDR": xray_api_addr,
            "XP_XRAY_HEALTH_INTERVAL_SECS": str(XRAY_INTERVAL_SECS),
            "XP_LOG_FORMAT": "json",
            "XP_LOG_LEVEL": "info",
        }
        | settings
    )


class Agent:
    """A running `xpagent run`: its log records as they arrive, and how to stop it.

    stderr is only read while the test waits for something; the agent logs little,
    far less than a pipe holds, so it never blocks on a full pipe meanwhile.
    """

    def __init__(self, process: trio.Process) -> None:
        assert process.stderr is not None
        self.process = process
        self._stderr = process.stderr
        self._partial = b""
        self._eof = False
        self.records: list[dict[str, Any]] = []
        #: stderr lines that are not JSON objects (a traceback, a stray print).
        self.stray_lines: list[str] = []

    def _add_line(self, raw: bytes) -> None:
        text = raw.decode(errors="replace")
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            self.records.append(record)
        else:
            self.stray_lines.append(text)

    async def _read_some(self) -> None:
        chunk = await self._stderr.receive_some(65536)
        if not chunk:
            self._eof = True
            if self._partial:
                self._add_line(self._partial)
            self._partial = b""
            return
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            self._add_line(line)

    def _failure(self, what: str) -> AssertionError:
        """`what` went wrong, with everything the agent said so far."""
        messages = "\n".join(str(record.get("message")) for record in self.records)
        stray = "\n".join(self.stray_lines)
        return AssertionError(
            f"{what}\n--- log messages:\n{messages}\n--- other stderr lines:\n{stray}"
        )

    def messages(self) -> list[str]:
        return [str(record["message"]) for record in self.records]

    async def wait_for_log(self, prefix: str, *, since: int = 0) -> dict[str, Any]:
        """The first record from index `since` on whose message starts with `prefix`."""
        index = since
        with trio.move_on_after(WAIT_SECS):
            while True:
                while index < len(self.records):
                    record = self.records[index]
                    index += 1
                    if str(record.get("message", "")).startswith(prefix):
                        return record
                if self._eof:
                    await self.process.wait()
                    raise self._failure(
                        f"the agent exited with {self.process.returncode} before logging {prefix!r}"
                    )
                await self._read_some()
        raise self._failure(f"no log line starting with {prefix!r} within {WAIT_SECS} s")

    async def wait_for_exit(self) -> int:
        """Read stderr to its end and wait for the process to exit; its exit status."""
        with trio.move_on_after(WAIT_SECS):
            while not self._eof:
                await self._read_some()
            return await self.process.wait()
        raise self._failure(f"the agent did not exit within {WAIT_SECS} s")

    async def api_url(self) -> str:
        """The base URL the agent's API listens on (it binds port 0)."""
        record = await self.wait_for_log(API_LISTENING)
        return str(record["message"]).removeprefix(API_LISTENING).split()[0]

    async def stop(self, signum: signal.Signals = signal.SIGTERM) -> tuple[int, float]:
        """Send `signum` and wait for the exit: the exit status and how long it took."""
        started = trio.current_time()
        self.process.send_signal(signum)
        returncode = await self.wait_for_exit()
        return returncode, trio.current_time() - started


@asynccontextmanager
async def running_agent(env: dict[str, str], *args: str) -> AsyncIterator[Agent]:
    """Start `python -m xpagent run ARGS` with `env` (the package's launcher, not
    waiting for its API); stopped if still running at the end, SIGTERM then SIGKILL."""
    async with trio.open_nursery() as nursery:
        launched: AgentProcess = await nursery.start(
            functools.partial(
                run_agent_process, env, stderr=subprocess.PIPE, args=args, grace_secs=WAIT_SECS
            )
        )
        process = launched.process
        try:
            yield Agent(process)
        finally:
            nursery.cancel_scope.cancel()
    assert process.stderr is not None
    with trio.CancelScope(shield=True):
        await process.stderr.aclose()


@asynccontextmanager
async def serving_agent(env: dict[str, str]) -> AsyncIterator[Agent]:
    """`running_agent`, once it logged that it is serving."""
    async with running_agent(env) as agent:
        await agent.wait_for_log(SERVING)
        yield agent


async def stop_cleanly(agent: Agent, signum: signal.Signals = signal.SIGTERM) -> None:
    """Stop `agent` with `signum`: exit 0 within the contract's deadline, all lines JSON."""
    returncode, took = await agent.stop(signum)
    assert returncode == 0, agent.messages()
    assert took < STOP_DEADLINE_SECS
    assert agent.stray_lines == []


# --- the state file ---------------------------------------------------------------------


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE_NAME


def read_state(data_dir: Path) -> StateFile:
    return decode_state(state_path(data_dir).read_bytes(), node_id=NODE_ID)


def raw_state(data_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(state_path(data_dir).read_bytes())
    return document


def state_has_event(data_dir: Path, message: str) -> bool:
    path = state_path(data_dir)
    if not path.exists():
        return False
    return any(event.message == message for event in read_state(data_dir).events)


async def wait_for_state_event(data_dir: Path, message: str) -> None:
    """Poll the state file until it holds an event with `message` (bounded).

    A poll: the agent says nothing when it writes the file.
    """
    with trio.move_on_after(WAIT_SECS):
        while not state_has_event(data_dir, message):  # noqa: ASYNC110
            await trio.sleep(POLL_SECS)
        return
    pytest.fail(f"no event {message!r} in the state file within {WAIT_SECS} s")


def write_state_bytes(data_dir: Path, content: bytes) -> None:
    data_dir.mkdir()
    state_path(data_dir).write_bytes(content)


def kept_aside(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob(f"{STATE_FILE_NAME}.corrupt-*"))


async def get_json(base_url: str, path: str) -> Any:
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT_SECS) as client:
        response = await client.get(path)
    response.raise_for_status()
    return response.json()


def agent_event_messages(state: StateFile, component: Component) -> list[str]:
    """The messages of `component`'s events, newest first."""
    return [event.message for event in state.events if event.component is component]


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def xray_api() -> Iterator[FakeXrayApi]:
    with running_xray_api() as api:
        yield api


# --- stopping -----------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_stop_signal_exits_0_within_5s_after_recording_the_stop(
    data_dir: Path, xray_api: FakeXrayApi, signum: signal.Signals
):
    """SIGTERM or SIGINT: exit 0 within 5 s, the state file's newest event is xp going down."""
    async with serving_agent(agent_env(data_dir, xray_api.addr)) as agent:
        await agent.wait_for_log(XRAY_UP)
        await stop_cleanly(agent, signum)

    assert f"received {signum.name}, stopping" in agent.messages()
    assert agent.messages()[-1] == "xpagent stopped"
    state = read_state(data_dir)
    newest = state.events[0]
    assert (newest.component, newest.kind) == (Component.XP, EventKind.STATUS_CHANGED)
    assert newest.message == "xp status changed: up -> down (agent stopped)"
    assert (newest.status_from, newest.status_to) == (ComponentStatus.UP, ComponentStatus.DOWN)
    xp, xray, _ = state.last_snapshot.components
    assert xp.status is ComponentStatus.DOWN
    assert xray.status is ComponentStatus.UP


async def test_a_stop_whose_state_cannot_be_written_exits_non_zero(
    data_dir: Path, xray_api: FakeXrayApi
):
    """When the final write fails (the data directory is gone), the agent still stops
    within 5 s, but says the state was not saved and exits 3, not 0."""
    async with serving_agent(agent_env(data_dir, xray_api.addr)) as agent:
        await agent.wait_for_log(XRAY_UP)
        shutil.rmtree(data_dir)
        returncode, took = await agent.stop()

    assert returncode == 3
    assert took < STOP_DEADLINE_SECS
    assert agent.stray_lines == []
    errors = [r for r in agent.records if r["level"] == "error"]
    assert len(errors) == 1
    assert str(errors[0]["message"]).startswith("stopped, but the state was not saved: ")


async def test_stop_during_a_hanging_restart_kills_it_and_still_exits_cleanly(
    data_dir: Path, tmp_path: Path, fake_programs: FakePrograms
):
    """SIGTERM while `systemctl restart` hangs: its process group is killed, the restart
    is recorded as interrupted, and the agent still exits 0 within 5 s."""
    with running_xray_api() as api:
        closed_addr = api.addr  # a port nobody listens on once the fake is stopped
    pids_fifo = tmp_path / "systemctl.pids"
    os.mkfifo(pids_fifo)
    # Read-write, so the FIFO never reads as EOF before the fake has written to it.
    fifo = os.open(pids_fifo, os.O_RDWR | os.O_NONBLOCK)
    fake_programs.behave("systemctl", hang=pids_fifo)
    env = agent_env(
        data_dir,
        closed_addr,
        XP_XRAY_HEALTH_FAILS_BEFORE_DOWN="1",
        XP_XRAY_RESTART_MODE="systemd",
    )
    async with serving_agent(env) as agent:
        await agent.wait_for_log("xray restart requested via systemd (attempt 1)")
        with trio.fail_after(WAIT_SECS):
            systemctl_pid, sleep_pid = await read_pids(fifo)
        await stop_cleanly(agent)

    with trio.fail_after(WAIT_SECS):
        await wait_for_exit(systemctl_pid)
        await wait_for_exit(sleep_pid)
    assert fake_programs.calls() == ["systemctl restart xray.service"]
    state = read_state(data_dir)
    assert state.events[0].message == "xp status changed: up -> down (agent stopped)"
    xray_events = agent_event_messages(state, Component.XRAY)
    assert xray_events[0] == "xray restart failed: interrupted before it finished"
    assert not state.last_snapshot.components[1].restart_in_flight


async def test_stop_with_an_event_stream_open_still_exits_within_5s(
    data_dir: Path, xray_api: FakeXrayApi
):
    """An open SSE stream does not hold the stop up: exit 0 within 5 s, and the
    client's stream ends."""
    async with (
        serving_agent(agent_env(data_dir, xray_api.addr)) as agent,
        httpx.AsyncClient(base_url=await agent.api_url(), timeout=WAIT_SECS) as client,
        client.stream("GET", f"/api/admin/nodes/{NODE_ID}/runtime/events") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        with trio.fail_after(WAIT_SECS):
            assert await anext(lines) == "event: hello"
        await stop_cleanly(agent)
        with trio.fail_after(WAIT_SECS):
            try:
                async for _ in lines:
                    pass
            except httpx.RemoteProtocolError:
                pass  # cut mid-stream: that is how a server going away looks


async def test_busy_bind_address_fails_with_one_log_line(data_dir: Path, xray_api: FakeXrayApi):
    """An XP_BIND address already in use stops the agent with a non-zero exit and one
    log line naming the address, not a traceback, and records no run."""
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = "127.0.0.1:{}".format(*taken.getsockname()[1:2])
        async with running_agent(agent_env(data_dir, xray_api.addr, XP_BIND=bind)) as agent:
            returncode = await agent.wait_for_exit()

    assert returncode != 0
    assert agent.stray_lines == []
    errors = [r for r in agent.records if r["level"] in ("error", "critical")]
    assert len(errors) == 1
    assert bind in errors[0]["message"]
    assert not (data_dir / STATE_FILE_NAME).exists()


# --- restarts of the agent ------------------------------------------------------------------


async def test_start_event_says_how_the_previous_run_ended_and_history_survives(
    data_dir: Path, xray_api: FakeXrayApi
):
    """After kill -9 the start event says the previous run did not end cleanly, after a
    clean stop that it did, each with the last time seen; earlier events are kept."""
    env = agent_env(data_dir, xray_api.addr)

    async with serving_agent(env) as agent:
        await agent.wait_for_log(XRAY_UP)
        # The event is written within a second of it; only then is the kill meaningful.
        await wait_for_state_event(data_dir, "xray status changed: unknown -> up")
        agent.process.kill()
        assert await agent.wait_for_exit() == -signal.SIGKILL
    after_kill = raw_state(data_dir)
    assert after_kill["events"][0]["message"] == "xray status changed: unknown -> up"
    last_seen = after_kill["last_snapshot"]["checked_at"]

    async with serving_agent(env) as agent:
        started = next(r for r in agent.records if r["message"].startswith("xp status changed"))
        assert started["message"] == (
            "xp status changed: down -> up (agent started; previous run did not end "
            f"cleanly, last seen {last_seen})"
        )
        await stop_cleanly(agent)
    after_stop = raw_state(data_dir)
    stopped_at = after_stop["last_snapshot"]["checked_at"]
    # The snapshot is taken as the final write starts, just after the stop is recorded.
    assert after_stop["events"][0]["message"] == "xp status changed: up -> down (agent stopped)"
    assert parse_time(after_stop["events"][0]["occurred_at"]) <= parse_time(stopped_at)

    async with serving_agent(env) as agent:
        await agent.wait_for_log(
            "xp status changed: down -> up (agent started; previous run ended cleanly, "
            f"last seen {stopped_at})"
        )
        detail = await get_json(await agent.api_url(), f"/api/admin/nodes/{NODE_ID}/runtime")
        await stop_cleanly(agent)

    # The API shows the history from before the restarts too (CONTRACT §5).
    earlier_ids = {event["event_id"] for event in after_kill["events"] + after_stop["events"]}
    assert earlier_ids <= {event["event_id"] for event in detail["events"]}
    assert len(detail["recent_slots"]) == 336
    observed_before = sum(slot["observed_secs"] for slot in after_stop["recent_slots"])
    assert sum(slot["observed_secs"] for slot in detail["recent_slots"]) >= observed_before

    final = read_state(data_dir)
    assert earlier_ids <= {event.event_id for event in final.events}
    assert [event.occurred_at for event in final.events] == sorted(
        (event.occurred_at for event in final.events), reverse=True
    )
    xp_events = agent_event_messages(final, Component.XP)
    assert [message.split(" (")[0] for message in xp_events] == [
        "xp status changed: up -> down",  # third run stopped
        "xp status changed: down -> up",  # third run: previous ended cleanly
        "xp status changed: up -> down",  # second run stopped
        "xp status changed: down -> up",  # second run: previous killed
        "xp status changed: unknown -> up",  # first run
    ]
    assert (
        xp_events[-1] == "xp status changed: unknown -> up (agent started; no earlier run recorded)"
    )
    # The slots go on from where the earlier runs left them.
    assert sum(slot.observed_secs for slot in final.recent_slots) >= observed_before


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"schema_version": 1, "node_id": "node-e2e", "last_sn', "not JSON (JSONDecodeError)"),
        (b'{"schema_version": 2}', "schema_version 2 is not supported (expected 1)"),
    ],
    ids=["truncated", "other-schema"],
)
async def test_unusable_state_file_is_kept_aside_and_recorded(
    data_dir: Path, xray_api: FakeXrayApi, content: bytes, reason: str
):
    """A state file that cannot be used is renamed to `.corrupt-<timestamp>`, never
    deleted; the agent logs so, starts empty and records a `state_reset` event."""
    write_state_bytes(data_dir, content)

    async with serving_agent(agent_env(data_dir, xray_api.addr)) as agent:
        await stop_cleanly(agent)

    kept = kept_aside(data_dir)
    assert len(kept) == 1
    assert kept[0].read_bytes() == content
    assert kept[0].name[len(STATE_FILE_NAME) + len(".corrupt-") :].endswith("Z")
    warning = next(r for r in agent.records if r["message"].startswith("state file "))
    assert warning["level"] == "warning"
    assert warning["message"] == (
        f"state file {state_path(data_dir)} could not be used ({reason}); kept aside as "
        f"{kept[0]}, history starts empty"
    )
    state = read_state(data_dir)
    reset = [event for event in state.events if event.kind is EventKind.STATE_RESET]
    assert [event.message for event in reset] == [
        f"state file could not be used, history starts empty: {reason}"
    ]
    assert agent_event_messages(state, Component.XP)[-2:] == [
        "xp status changed: unknown -> up (agent started; the earlier state could not be used)",
        reset[0].message,
    ]


# --- xray -----------------------------------------------------------------------------------


async def test_xray_outage_is_detected_restarted_through_systemd_and_recovered(
    data_dir: Path, xray_api: FakeXrayApi, fake_programs: FakePrograms
):
    """xray's API going away is `down` after fails_before_down failed probes; in systemd
    mode `systemctl restart xray.service` is run and recorded; its return is `up`."""
    fails_before_down = 2
    env = agent_env(
        data_dir,
        xray_api.addr,
        XP_XRAY_HEALTH_FAILS_BEFORE_DOWN=str(fails_before_down),
        XP_XRAY_RESTART_MODE="systemd",
    )
    async with serving_agent(env) as agent:
        await agent.wait_for_log(XRAY_UP)
        stopping_at = datetime.now(UTC)
        await trio.to_thread.run_sync(xray_api.stop)
        down = await agent.wait_for_log("xray status changed: up -> down")
        assert down["message"] == "xray status changed: up -> down (connection refused)"
        assert (down["level"], down["component"], down["status"]) == ("warning", "xray", "down")
        # Not on the first failed probe: fails_before_down probes, an interval apart.
        failing_for = (parse_time(down["ts"]) - stopping_at).total_seconds()
        assert failing_for >= (fails_before_down - 1) * XRAY_INTERVAL_SECS - 0.1
        await agent.wait_for_log("xray restart requested via systemd (attempt 1)")
        await agent.wait_for_log("xray restart command succeeded")

        since = len(agent.records)
        await trio.to_thread.run_sync(xray_api.start)  # same port: "restarted"
        await agent.wait_for_log("xray status changed: down -> up", since=since)
        await stop_cleanly(agent)

    assert fake_programs.calls() == ["systemctl restart xray.service"]
    state = read_state(data_dir)
    xray_kinds = [event.kind for event in state.events if event.component is Component.XRAY]
    assert xray_kinds == [
        EventKind.STATUS_CHANGED,  # down -> up
        EventKind.RESTART_SUCCEEDED,
        EventKind.RESTART_REQUESTED,
        EventKind.STATUS_CHANGED,  # up -> down
        EventKind.STATUS_CHANGED,  # unknown -> up
    ]
    xray = state.last_snapshot.components[1]
    assert xray.status is ComponentStatus.UP
    assert xray.restart_attempts == 0
    assert xray.last_restart_at is not None


async def test_cloudflared_without_a_restart_mode_is_disabled_and_silent(
    data_dir: Path, xray_api: FakeXrayApi
):
    """With XP_CLOUDFLARED_RESTART_MODE unset, cloudflared is `disabled`, in every slot
    too, and no event or log line mentions it."""
    async with serving_agent(agent_env(data_dir, xray_api.addr)) as agent:
        await agent.wait_for_log(XRAY_UP)
        await stop_cleanly(agent)

    state = read_state(data_dir)
    cloudflared = state.last_snapshot.components[2]
    assert cloudflared.component is Component.CLOUDFLARED
    assert cloudflared.status is ComponentStatus.DISABLED
    assert state.recent_slots
    statuses = {slot.status_of(Component.CLOUDFLARED) for slot in state.recent_slots}
    assert statuses == {ComponentStatus.DISABLED}
    assert [e.message for e in state.events if "cloudflared" in e.message] == []
    # The data directory's path is in some lines, and it holds this test's name.
    messages = [message.replace(str(data_dir), "DATA_DIR") for message in agent.messages()]
    assert [m for m in messages if "cloudflared" in m] == []
    assert [r for r in agent.records if r.get("component") == "cloudflared"] == []


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "flags", "line"),
    [
        (
            {"XP_XRAY_HEALTH_INTERVAL_SECS": "0"},
            [],
            "XP_XRAY_HEALTH_INTERVAL_SECS=0 is out of range 1..=30",
        ),
        (
            {"XP_CLOUDFLARED_HEALTH_INTERVAL_SECS": "61"},
            [],
            "XP_CLOUDFLARED_HEALTH_INTERVAL_SECS=61 is out of range 1..=60",
        ),
        (
            {"XP_XRAY_HEALTH_INTERVAL_SECS": "2"},
            ["--xray-health-interval-secs", "31"],
            "XP_XRAY_HEALTH_INTERVAL_SECS=31 is out of range 1..=30",
        ),
    ],
    ids=["xray-interval-0", "cloudflared-interval-61", "flag-wins"],
)
async def test_config_error_exits_2_with_one_line_and_creates_nothing(
    data_dir: Path, settings: dict[str, str], flags: list[str], line: str
):
    """A value out of range stops the agent with exit 2 and one stderr line naming the
    variable, the value and the range, before anything is created in XP_DATA_DIR."""
    env = agent_env(data_dir, "127.0.0.1:10085", **settings)
    with trio.fail_after(WAIT_SECS):
        result = await trio.run_process(
            [sys.executable, "-m", "xpagent", "run", *flags],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 2
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith(line)
    assert not data_dir.exists()  # noqa: ASYNC240 (the process has exited)
