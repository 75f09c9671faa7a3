"""`xpagent demo`: the simulated components, the restart command, the synthetic
history, and the whole demo run for real in a subprocess.

The end-to-end tests start `python -m xpagent.demo` (the same `run_demo` that
`xpagent demo` calls, with options) in a temporary directory, read its output,
ask node-a's API what the agents recorded, stop the demo and check that no
process it started is left. Every wait is bounded.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import httpx
import pytest
import trio

from xpagent.core import (
    SUPERVISED,
    Component,
    ComponentStatus,
    EventKind,
    decode_state,
    encode_state,
    slot_start_of,
)
from xpagent.daemon import STATE_FILE_NAME, XrayProbe, open_grpc_client
from xpagent.demo._fleet import SimulatedNode, open_fleet
from xpagent.demo._narrator import Narrator
from xpagent.demo._prefill import SYNTHETIC_MARKER, SYNTHETIC_PREFIX, synthetic_runtime
from xpagent.demo._scenario import ScenarioTiming, _Scenario
from xpagent.demo._workdir import Workdir, prepare_workdir
from xpagent.demo._xray import GET_STATS_PATH, parse_get_stats_request

#: Bounds: the demo is up within seconds, its first fault is seen within ~10 s.
START_SECS = 30.0
FAULT_SECS = 30.0
EXIT_SECS = 20.0
POLL_SECS = 0.2
#: Whether processes can be listed with their environment (Linux).
HAS_PROC = Path("/proc/self/environ").exists()

# --- the pieces -----------------------------------------------------------------------


@asynccontextmanager
async def fleet_in(
    tmp_path: Path, narration: io.StringIO | None = None
) -> AsyncIterator[tuple[Workdir, dict[str, SimulatedNode]]]:
    """The simulated components and the control server of a demo in `tmp_path`."""
    workdir = prepare_workdir(tmp_path / "demo", base_port=None)
    narrator = Narrator(out=narration or io.StringIO())
    async with open_fleet(workdir, narrator) as fleet:
        yield workdir, {node.node_id: node for node in fleet}


def _grpc_get_stats(addr: str, name: str) -> bytes:
    """One GetStats call with grpcio, returning the raw response message."""
    channel = grpc.insecure_channel(addr)
    try:
        call = channel.unary_unary(
            GET_STATS_PATH,
            request_serializer=lambda message: message,
            response_deserializer=lambda message: message,
        )
        encoded = name.encode()
        response: bytes = call(b"\x0a" + bytes([len(encoded)]) + encoded, timeout=5)
        return response
    finally:
        channel.close()


async def test_simulated_xray_is_judged_like_xray_by_the_probe(tmp_path: Path) -> None:
    """The agent's probe finds the simulated xray up, UNAVAILABLE, or refusing."""
    async with fleet_in(tmp_path) as (_, fleet), open_grpc_client() as client:
        xray = fleet["node-a"].xray
        probe = XrayProbe(client, xray.addr)
        assert (await probe.probe()).ok
        xray.answer_unavailable(True)
        assert (await probe.probe()).reason == "grpc UNAVAILABLE"
        await xray.crash()
        assert (await probe.probe()).reason == "connection refused"
        await xray.start()
        assert (await probe.probe()).reason == "grpc UNAVAILABLE", "a restart does not cure it"
        xray.answer_unavailable(False)
        assert (await probe.probe()).ok


async def test_simulated_xray_answers_a_real_grpc_client(tmp_path: Path) -> None:
    """A grpcio client gets a GetStatsResponse naming the counter it asked for."""
    async with fleet_in(tmp_path) as (_, fleet):
        addr = fleet["node-b"].xray.addr
        response = await trio.to_thread.run_sync(_grpc_get_stats, addr, "inbound>>>api")
        # GetStatsResponse{stat: Stat{name, value}}: the name travels back inside.
        assert b"inbound>>>api" in response
        fleet["node-b"].xray.answer_unavailable(True)
        with pytest.raises(grpc.RpcError) as raised:
            await trio.to_thread.run_sync(_grpc_get_stats, addr, "inbound>>>api")
        assert raised.value.code() is grpc.StatusCode.UNAVAILABLE


def test_get_stats_request_parsing_refuses_garbage() -> None:
    """A frame that is not an uncompressed GetStatsRequest is refused."""
    assert parse_get_stats_request(b"\x00\x00\x00\x00\x03\x0a\x01x") == "x"
    for frame in (b"", b"\x01\x00\x00\x00\x00", b"\x00\x00\x00\x00\x05\x0a\x09x"):
        with pytest.raises(ValueError, match=r"."):
            parse_get_stats_request(frame)


async def _restart(url: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(EXIT_SECS):
        return await trio.run_process(
            [sys.executable, "-m", "xpagent.demo.restart", url],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


@pytest.mark.slow
async def test_restart_command_reports_the_init_systems_answer(tmp_path: Path) -> None:
    """The restart command exits 0 when the component was restarted, else 1 with the
    reason on stderr; a queued failure is answered like systemd's."""
    narration = io.StringIO()
    async with fleet_in(tmp_path, narration) as (workdir, fleet):
        node_b = fleet["node-b"]
        await node_b.xray.crash()
        node_b.fail_next_restarts("xray", 1)

        failed = await _restart(workdir.restart_url("node-b", "xray"))
        assert failed.returncode == 1
        assert b"Job for xray.service failed" in failed.stderr
        assert node_b.xray.state == "stopped"

        restarted = await _restart(workdir.restart_url("node-b", "xray"))
        assert restarted.returncode == 0, restarted.stderr
        assert node_b.xray.state == "serving"

        missing = await _restart(workdir.restart_url("node-b", "cloudflared"))
        assert missing.returncode == 1
        assert b"Unit cloudflared.service not found." in missing.stderr
    assert "node-b: the agent restarts xray — and it fails" in narration.getvalue()


async def test_restart_command_fails_when_nobody_answers(tmp_path: Path) -> None:
    """Without a control server, the restart command fails and says so."""
    workdir = prepare_workdir(tmp_path / "demo", base_port=None)
    result = await _restart(workdir.restart_url("node-a", "xray"))
    assert result.returncode == 1
    assert b"cannot reach the demo's control server" in result.stderr


def test_synthetic_history_is_a_valid_marked_week() -> None:
    """The synthetic week fills the bars before the slot in progress, decodes as a
    state file, marks every synthetic event, and ends with the marker event."""
    now = datetime(2026, 11, 28, 10, 17, 3, tzinfo=UTC)
    runtime = synthetic_runtime("node-c", enabled=SUPERVISED, now=now)
    decode_state(encode_state(runtime, now), node_id="node-c")

    slots = runtime.recent_slots(now)
    assert len(slots) == 336
    assert slots[-1].observed_secs == 0, "the slot in progress is left to the real agent"
    earlier = [slot for slot in slots[:-1] if slot.observed_secs > 0]
    assert len(earlier) > 300
    assert any(slot.down_secs > 0 for slot in earlier)
    assert all(slot.slot_start < slot_start_of(now) for slot in runtime.history.slots)

    marker, *synthetic = runtime.events
    assert marker.message == SYNTHETIC_MARKER
    assert marker.component is Component.XP
    assert (marker.status_from, marker.status_to) == (ComponentStatus.UP, ComponentStatus.DOWN)
    assert marker.occurred_at == now
    assert synthetic, "a week has events"
    assert all(event.message.startswith(SYNTHETIC_PREFIX) for event in synthetic)
    kinds = {event.kind for event in synthetic}
    assert {EventKind.RESTART_REQUESTED, EventKind.RESTART_FAILED} <= kinds
    # The synthetic agent stopped cleanly, so the real one starts from a clean stop.
    assert runtime.component(Component.XP).status is ComponentStatus.DOWN


# --- the whole demo ------------------------------------------------------------------


class Demo:
    """A running `python -m xpagent.demo`, its output read as it comes."""

    def __init__(self, process: trio.Process, workdir: Path) -> None:
        assert process.stdout is not None
        self.process = process
        self.workdir = workdir
        self._stdout = process.stdout
        self.output = ""
        self._eof = False

    async def _read_some(self) -> None:
        chunk = await self._stdout.receive_some(65536)
        if not chunk:
            self._eof = True
        self.output += chunk.decode(errors="replace")

    async def wait_for(self, pattern: str) -> re.Match[str]:
        """The first match of `pattern` in the output, waiting for it (bounded)."""
        with trio.move_on_after(START_SECS):
            while (match := re.search(pattern, self.output, re.MULTILINE)) is None:
                if self._eof:
                    await self.process.wait()
                    raise AssertionError(
                        f"the demo exited ({self.process.returncode}) before printing "
                        f"{pattern!r}:\n{self.output}"
                    )
                await self._read_some()
            return match
        raise AssertionError(f"no {pattern!r} within {START_SECS} s:\n{self.output}")

    async def wait_for_exit(self) -> int:
        with trio.move_on_after(EXIT_SECS):
            while not self._eof:
                await self._read_some()
            return await self.process.wait()
        raise AssertionError(f"the demo did not exit within {EXIT_SECS} s:\n{self.output}")


def processes_mentioning(text: str) -> list[int]:
    """Processes of ours whose environment mentions `text` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours
        if text.encode() in environ:
            found.append(int(entry.name))
    return found


@contextmanager
def no_process_left_behind(workdir: Path) -> Iterator[None]:
    """After the block, no process started for `workdir` runs; any found is killed
    (so a failing test leaves nothing either) and fails the test."""
    try:
        yield
    finally:
        if HAS_PROC:
            left = processes_mentioning(str(workdir.resolve()))
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            assert not left, f"processes left behind: {left}"


@asynccontextmanager
async def running_demo(workdir: Path, *options: str) -> AsyncIterator[Demo]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("XP_")}
    env["PYTHONUNBUFFERED"] = "1"
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "xpagent.demo", "--dir", str(workdir), *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    demo = Demo(process, workdir)
    try:
        yield demo
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
                with trio.move_on_after(EXIT_SECS):
                    await process.wait()
            if process.returncode is None:
                process.kill()
            await process.wait()
            await trio.aclose_forcefully(demo._stdout)


async def _get(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def _wait_for_real_event(client: httpx.AsyncClient, node_id: str, **fields: str) -> Any:
    """The newest event of `node_id` recorded after the synthetic history (newer than
    the marker) with these fields, polling its detail (bounded)."""
    path = f"/api/admin/nodes/{node_id}/runtime?events_limit=1000"
    with trio.move_on_after(FAULT_SECS):
        while True:
            detail = await _get(client, path)
            for event in detail["events"]:
                if event["message"] == SYNTHETIC_MARKER:
                    break
                if all(event[name] == value for name, value in fields.items()):
                    return event
            await trio.sleep(POLL_SECS)
    raise AssertionError(f"no {fields} event on {node_id} within {FAULT_SECS} s")


@pytest.mark.slow
async def test_demo_runs_three_agents_through_faults_and_stops_cleanly(tmp_path: Path) -> None:
    """The demo prints the URL and token, its cluster has three nodes with a filled
    week and the synthetic marker, the scenario's first fault gets node-b's xray
    restarted by its agent, and Ctrl-C stops everything with exit status 0."""
    workdir = tmp_path / "demo"
    with no_process_left_behind(workdir):
        async with running_demo(workdir, "--first-fault-after", "0", "--seconds", "120") as demo:
            url = (await demo.wait_for(r"API\s+(http://127\.0\.0\.1:\d+)/api/"))[1]
            token = (await demo.wait_for(r"admin token\s+(\S+)"))[1]
            assert f'curl -H "Authorization: Bearer {token}" {url}/api/admin/nodes/runtime' in (
                demo.output
            )
            assert "synthetic" in (await demo.wait_for(r"NOTE: .*\n.*\n.*"))[0]
            assert (workdir / "admin-token").read_text().strip() == token
            if HAS_PROC:
                # The check for processes left behind does see the agents.
                assert len(processes_mentioning(str(workdir.resolve()))) >= 3
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(
                base_url=url, headers=headers, timeout=10.0, trust_env=False
            ) as client:
                listing = await _get(client, "/api/admin/nodes/runtime")
                assert listing["partial"] is False
                assert [item["node_id"] for item in listing["items"]] == [
                    "node-a",
                    "node-b",
                    "node-c",
                ]
                for item in listing["items"]:
                    slots = item["recent_slots"]
                    assert len(slots) == 336
                    earlier = [slot for slot in slots[:-1] if slot["summary"] != "unknown"]
                    assert len(earlier) > 300, f"{item['node_id']}: the week is not pre-filled"

                for node_id in ("node-a", "node-b", "node-c"):
                    detail = await _get(client, f"/api/admin/nodes/{node_id}/runtime")
                    messages = [event["message"] for event in detail["events"]]
                    assert SYNTHETIC_MARKER in messages, node_id
                    after_marker = messages[: messages.index(SYNTHETIC_MARKER)]
                    # The agent's own start follows the marker; nothing after is synthetic.
                    assert any(
                        "agent started; previous run ended cleanly" in m for m in after_marker
                    )
                    assert not any(m.startswith(SYNTHETIC_PREFIX) for m in after_marker)

                requested = await _wait_for_real_event(
                    client, "node-b", component="xray", kind="restart_requested"
                )
                assert requested["message"] == "xray restart requested via command (attempt 1)"
                await _wait_for_real_event(
                    client, "node-b", component="xray", kind="restart_succeeded"
                )
            await demo.wait_for(r"scenario\s+node-b \(Frankfurt edge\): xray crashes")
            await demo.wait_for(r"node-b\s+xray restart requested via command")

            demo.process.send_signal(signal.SIGINT)
            assert await demo.wait_for_exit() == 0
    assert "SIGINT: stopping the scenario and the agents" in demo.output
    assert demo.output.count("agent stopped (exit status 0)") == 3
    assert f"The demo's data stays in {workdir.resolve()}" in demo.output


@pytest.mark.slow
async def test_demo_stops_by_itself_and_the_agents_write_their_state(tmp_path: Path) -> None:
    """With --seconds the demo stops on its own, exit status 0, and every agent wrote
    its state file on the way out (its last xp event is the clean stop)."""
    workdir = tmp_path / "demo"
    with no_process_left_behind(workdir):
        async with running_demo(workdir, "--seconds", "1") as demo:
            assert await demo.wait_for_exit() == 0
    assert "1 s are over: stopping the agents" in demo.output
    for node_id in ("node-a", "node-b", "node-c"):
        state = decode_state((workdir / node_id / STATE_FILE_NAME).read_bytes(), node_id=node_id)
        newest = state.events[0]
        assert newest.component is Component.XP
        assert newest.message == "xp status changed: up -> down (agent stopped)"


# --- the scenario's freeze act -------------------------------------------------------


def _process_state(pid: int) -> str:
    """The one-letter state of `pid` in /proc (`T` stopped, `S`/`R` running)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def _wait_for_state(pid: int, states: str) -> str:
    """Bounded poll: a signal's effect on another process shows a moment later."""
    deadline = time.monotonic() + 5
    while (state := _process_state(pid)) not in states and time.monotonic() < deadline:
        os.sched_yield()
    return state


async def test_freezing_an_agent_stops_it_and_always_continues_it(autojump_clock: object) -> None:
    """Act 3 stops node-c's agent with SIGSTOP for the set time and continues it with
    SIGCONT, also when the demo stops in the middle of it."""
    stand_in = await trio.lowlevel.open_process(["sleep", "600"])
    narration = io.StringIO()
    try:
        node = SimpleNamespace(node_id="node-c", title="node-c (Virginia edge)")
        scenario = _Scenario(
            {"node-c": node},  # type: ignore[dict-item]
            Narrator(out=narration),
            ScenarioTiming(agent_freeze=75),
            {"node-c": stand_in.pid},
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(scenario.agent_freezes)
            await trio.sleep(74)
            assert _wait_for_state(stand_in.pid, "T") == "T"
            await trio.sleep(2)
            assert _wait_for_state(stand_in.pid, "SR") in "SR"
            assert "runs again (SIGCONT)" in narration.getvalue()

            nursery.start_soon(scenario.agent_freezes)
            await trio.sleep(10)
            assert _wait_for_state(stand_in.pid, "T") == "T"
            nursery.cancel_scope.cancel()
        assert _wait_for_state(stand_in.pid, "SR") in "SR"
    finally:
        stand_in.kill()
        await stand_in.wait()
