"""The script: faults caused and healed in a loop, each announced before it happens.

One round is five acts, with a pause of 20–40 s after each:

1. node-b's xray crashes; its agent notices and restarts it.
2. node-c's tunnel loses its edge connection: cloudflared runs but is not ready.
   Restarts do not help, so the agent backs off (the waits between requests are
   10 s, 20 s, 40 s, then 60 s, the cap) until the edge comes back by itself
   after 150 s.
3. node-c's agent freezes (SIGSTOP) for 75 s: the other nodes cannot reach it,
   so the cluster list is partial and a relayed event stream reports
   `node_error`; then it runs again (SIGCONT).
4. node-b's xray crashes again and its unit is broken: two restarts fail before
   the third works.
5. node-a's xray flaps: it answers UNAVAILABLE for a few seconds, three times.

The scenario only touches the simulated components and, in act 3, stops and
continues an agent process; everything the agents do about it is their own doing
(and is narrated from their event streams).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence

import attrs
import trio

from ._fleet import SimulatedNode
from ._narrator import Narrator

__all__ = ["ScenarioTiming", "run_scenario"]

#: The longest the scenario waits for an agent to bring a crashed xray back.
RECOVERY_WAIT_SECS = 120.0


@attrs.frozen
class ScenarioTiming:
    """How long things take. The defaults show backoff within a few minutes."""

    first_fault_after: float = 5.0
    pause_min: float = 20.0
    pause_max: float = 40.0
    #: How long node-c's tunnel stays without an edge connection: long enough for
    #: the backoff to reach its 60 s cap once (requests at +0, 10, 30, 70, 130 s).
    edge_outage: float = 150.0
    #: How long node-c's agent stays frozen: longer than a relayed stream's
    #: silence limit, so its `node_error` shows, and than the list's refresh.
    agent_freeze: float = 75.0
    #: node-a's flap: seconds answering UNAVAILABLE, then seconds serving, times.
    flap_unavailable: float = 8.0
    flap_serving: float = 6.0
    flaps: int = 3


@attrs.define
class _Scenario:
    nodes: dict[str, SimulatedNode]
    narrator: Narrator
    timing: ScenarioTiming
    agent_pids: Mapping[str, int]

    def say(self, text: str) -> None:
        self.narrator.say("scenario", text)

    async def _wait_for_agent_restart(self, node: SimulatedNode) -> None:
        """Wait (bounded) until `node`'s agent has restarted xray; start it by hand if not."""
        with trio.move_on_after(RECOVERY_WAIT_SECS):
            await node.xray.wait_running()
            self.say(f"{node.title}: xray is back, restarted by its agent")
            return
        self.say(
            f"{node.title}: xray is still down after {RECOVERY_WAIT_SECS:g} s; "
            "the scenario starts it by hand (see the agent's log)"
        )
        await node.xray.start()

    async def xray_crash(self) -> None:
        node = self.nodes["node-b"]
        self.say(f"{node.title}: xray crashes; its API port refuses connections now")
        self.say("  the agent probes every 2 s, calls xray down after 3 failures, restarts it")
        await node.xray.crash()
        await self._wait_for_agent_restart(node)

    async def tunnel_loses_edge(self) -> None:
        node = self.nodes["node-c"]
        tunnel = node.cloudflared
        assert tunnel is not None, "node-c runs cloudflared"
        self.say(
            f"{node.title}: the tunnel loses its connection to Cloudflare's edge; cloudflared "
            "keeps running (systemd would call it active) but /ready answers 503"
        )
        self.say(
            "  restarting cloudflared cannot fix that: watch the agent back off, asking "
            "again after 10 s, 20 s, 40 s, then 60 s (its cap)"
        )
        tunnel.lose_edge()
        await trio.sleep(self.timing.edge_outage)
        tunnel.regain_edge()
        self.say(
            f"{node.title}: the edge is reachable again after {self.timing.edge_outage:g} s; "
            "the tunnel reconnects and /ready answers 200"
        )

    async def agent_freezes(self) -> None:
        node = self.nodes["node-c"]
        pid = self.agent_pids.get(node.node_id)
        if pid is None:
            return
        seconds = self.timing.agent_freeze
        self.say(
            f"{node.title}: its agent freezes (SIGSTOP) for {seconds:g} s; "
            "the other nodes cannot reach it"
        )
        self.say(
            "  the nodes page lists it as unreachable at its next refresh (every 30 s); "
            'its details page says "node unreachable" after 30 s without a word from it'
        )
        os.kill(pid, signal.SIGSTOP)
        try:
            await trio.sleep(seconds)
        finally:
            # Also on the way out: a stopped agent could not obey the demo's SIGTERM.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.say(f"{node.title}: its agent runs again (SIGCONT) and answers at once")

    async def restarts_fail_twice(self) -> None:
        node = self.nodes["node-b"]
        self.say(
            f"{node.title}: xray crashes again, and its unit is broken this time: "
            "the next two restarts will fail, the third works"
        )
        node.fail_next_restarts("xray", 2)
        await node.xray.crash()
        await self._wait_for_agent_restart(node)

    async def xray_flaps(self) -> None:
        node = self.nodes["node-a"]
        timing = self.timing
        self.say(
            f"{node.title}: xray flaps: its API answers UNAVAILABLE for "
            f"{timing.flap_unavailable:g} s, then works for {timing.flap_serving:g} s, "
            f"{timing.flaps} times"
        )
        for _ in range(timing.flaps):
            node.xray.answer_unavailable(True)
            await trio.sleep(timing.flap_unavailable)
            node.xray.answer_unavailable(False)
            await trio.sleep(timing.flap_serving)
        self.say(f"{node.title}: xray is steady again")


async def run_scenario(
    fleet: Sequence[SimulatedNode],
    narrator: Narrator,
    *,
    timing: ScenarioTiming = ScenarioTiming(),
    rng: random.Random | None = None,
    agent_pids: Mapping[str, int] | None = None,
) -> None:
    """Cause and heal faults forever (until cancelled).

    `agent_pids` (node id → agent process id) lets act 3 freeze an agent; without
    it that act is skipped.
    """
    rng = rng or random.Random()
    nodes = {node.node_id: node for node in fleet}
    scenario = _Scenario(nodes, narrator, timing, agent_pids or {})
    acts: list[Callable[[], Awaitable[None]]] = [
        scenario.xray_crash,
        scenario.tunnel_loses_edge,
        scenario.agent_freezes,
        scenario.restarts_fail_twice,
        scenario.xray_flaps,
    ]
    scenario.say(f"the first fault comes in {timing.first_fault_after:g} s")
    await trio.sleep(timing.first_fault_after)
    round_number = 0
    while True:
        round_number += 1
        scenario.say(f"round {round_number}: {len(acts)} faults, each healed before the next")
        for act in acts:
            await act()
            pause = rng.uniform(timing.pause_min, timing.pause_max)
            scenario.say(f"quiet for {pause:.0f} s")
            await trio.sleep(pause)
