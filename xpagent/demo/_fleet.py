"""The simulated fleet: each demo node's xray and cloudflared, and its init system.

The agents are real; what they watch is simulated here. `SimulatedNode.restart`
is what the node's "init system" does when the agent asks for a restart (through
the control server, see `_control.py`): it stops the component, brings it back
after `RESTART_DELAY_SECS` and says so — unless the scenario queued a failure,
which is answered the way `systemctl restart` reports one. Restarting cloudflared
restarts the process, but cannot bring back a lost edge connection.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio

from ._cloudflared import SimulatedCloudflared
from ._control import ControlApp
from ._narrator import Narrator
from ._process import SimulatedProcess
from ._workdir import DemoNode, Workdir
from ._xray import SimulatedXray

__all__ = ["RESTART_DELAY_SECS", "RestartAnswer", "SimulatedNode", "open_fleet"]

#: How long a restarted component takes to come back.
RESTART_DELAY_SECS = 1.5

#: What `systemctl restart` prints on stderr when the unit fails: the cause, then a
#: line of pointers (which the agent leaves out of its event).
SYSTEMD_FAILURE = (
    "Job for {unit} failed because the control process exited with error code.\n"
    'See "systemctl status {unit}" and "journalctl -xeu {unit}" for details.'
)


@attrs.frozen
class RestartAnswer:
    """What the init system answered a restart request: ok, and a one-line message."""

    ok: bool
    message: str
    #: False when there is no such component on the node (HTTP 404 rather than 500).
    known: bool = True


class SimulatedNode:
    """One node's simulated components and the restart failures queued for them."""

    def __init__(self, node: DemoNode, nursery: trio.Nursery, narrator: Narrator) -> None:
        self.node = node
        self.narrator = narrator
        self.xray = SimulatedXray(node.xray_port, nursery)
        self.cloudflared = (
            None
            if node.metrics_port is None
            else SimulatedCloudflared(node.node_id, node.metrics_port, nursery)
        )
        self._failing_restarts: dict[str, deque[str]] = {"xray": deque(), "cloudflared": deque()}

    @property
    def node_id(self) -> str:
        return self.node.node_id

    @property
    def title(self) -> str:
        """`node-b (Frankfurt edge)`: how narration names the node."""
        return f"{self.node.node_id} ({self.node.node_name})"

    async def start(self) -> None:
        await self.xray.start()
        if self.cloudflared is not None:
            await self.cloudflared.start()

    def fail_next_restarts(self, component: str, count: int) -> None:
        """Make the next `count` restarts of `component` fail like a broken unit
        (replacing failures queued earlier and not used up)."""
        unit = f"{component}.service"
        self._failing_restarts[component] = deque([SYSTEMD_FAILURE.format(unit=unit)] * count)

    def describe(self) -> dict[str, str | None]:
        return {
            "xray": self.xray.state,
            "cloudflared": None if self.cloudflared is None else self.cloudflared.state,
        }

    async def restart(self, component: str) -> RestartAnswer:
        """Restart `component` as the node's init system would, and say how it went."""
        say = self.narrator.say
        unit = f"{component}.service"
        target = self.xray if component == "xray" else self.cloudflared
        if component not in ("xray", "cloudflared") or target is None:
            message = f"Failed to restart {unit}: Unit {unit} not found."
            say("control", f"{self.node_id}: asked to restart {component}, which it does not run")
            return RestartAnswer(ok=False, message=message, known=False)
        failures = self._failing_restarts[component]
        if failures:
            message = failures.popleft()
            say("control", f"{self.node_id}: the agent restarts {component} — and it fails")
            return RestartAnswer(ok=False, message=message)
        say(
            "control",
            f"{self.node_id}: the agent restarts {component}; "
            f"it will be back in {RESTART_DELAY_SECS:g} s",
        )
        if isinstance(target, SimulatedXray):
            await target.crash()
        else:
            await target.stop()
        await trio.sleep(RESTART_DELAY_SECS)
        await target.start()
        if target.problem is not None:
            say("control", f"{self.node_id}: {component} runs again, but {target.problem}")
        return RestartAnswer(ok=True, message=f"{unit} restarted")


@asynccontextmanager
async def open_fleet(workdir: Workdir, narrator: Narrator) -> AsyncIterator[list[SimulatedNode]]:
    """Start every node's simulated components and the control server; stop them all
    on exit."""
    async with trio.open_nursery() as nursery:
        fleet = [SimulatedNode(node, nursery, narrator) for node in workdir.nodes]
        for node in fleet:
            await node.start()
        await SimulatedProcess(ControlApp(fleet), workdir.control_port, nursery).start()
        try:
            yield fleet
        finally:
            nursery.cancel_scope.cancel()
