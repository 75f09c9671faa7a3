"""The three real agents: `python -m xpagent run` processes configured for the demo.

Each agent gets its settings as `XP_*` variables (the demo's, never the user's),
writes its log to `DIR/<node>/agent.log` and is run by the package's one launcher,
`xpagent.agent_process.run_agent_process`: in its own session, so that a Ctrl-C in
the terminal reaches only the demo, which then stops the agents itself — SIGTERM, a
bounded wait for the clean exit (the agent writes its state file and exits 0), and
SIGKILL for one that does not exit in time. That happens on every way out of
`open_agents`, so no agent outlives the demo.

The settings make things visible within minutes: probes every 2 s, down after 3
failures, a restart cooldown of 10 s and a backoff capped at 60 s.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

import attrs
import httpx
import trio

from xpagent.agent_process import (
    AgentProcess,
    AgentStartError,
    agent_environment,
    run_agent_process,
)

from ._narrator import Narrator
from ._workdir import DemoNode, Workdir

__all__ = [
    "AGENT_SETTINGS",
    "DemoAgent",
    "DemoError",
    "agent_env",
    "open_agents",
    "wait_until_one_exits",
]

#: The supervision settings every demo agent runs with.
AGENT_SETTINGS = {
    "XP_XRAY_HEALTH_INTERVAL_SECS": "2",
    "XP_XRAY_HEALTH_FAILS_BEFORE_DOWN": "3",
    "XP_XRAY_RESTART_MODE": "command",
    "XP_XRAY_RESTART_COOLDOWN_SECS": "10",
    "XP_XRAY_RESTART_BACKOFF_MAX_SECS": "60",
    "XP_XRAY_RESTART_TIMEOUT_SECS": "10",
    "XP_CLOUDFLARED_HEALTH_INTERVAL_SECS": "2",
    "XP_CLOUDFLARED_HEALTH_FAILS_BEFORE_DOWN": "3",
    "XP_CLOUDFLARED_RESTART_COOLDOWN_SECS": "10",
    "XP_CLOUDFLARED_RESTART_BACKOFF_MAX_SECS": "60",
    "XP_CLOUDFLARED_RESTART_TIMEOUT_SECS": "10",
    "XP_RUNTIME_FANOUT_TIMEOUT_SECS": "3",
    "XP_LOG_LEVEL": "info",
}


class DemoError(Exception):
    """The demo cannot go on (an agent did not start or died); the message says why."""


def _restart_command(workdir: Workdir, node: DemoNode, component: str) -> str:
    argv = [
        sys.executable,
        "-m",
        "xpagent.demo.restart",
        workdir.restart_url(node.node_id, component),
    ]
    return shlex.join(argv)


def agent_env(workdir: Workdir, node: DemoNode, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of `node`'s agent: `base` without any `XP_*` or proxy variable,
    plus the demo's settings."""
    env = agent_environment(AGENT_SETTINGS, base)
    env.update(
        XP_BIND=f"127.0.0.1:{node.api_port}",
        XP_DATA_DIR=str(node.data_dir),
        XP_NODE_ID=node.node_id,
        XP_CLUSTER_FILE=str(workdir.cluster_file),
        XP_CLUSTER_SECRET_FILE=str(workdir.secret_file),
        XP_ADMIN_TOKEN=workdir.admin_token,
        XP_XRAY_API_ADDR=f"127.0.0.1:{node.xray_port}",
        XP_XRAY_RESTART_COMMAND=_restart_command(workdir, node, "xray"),
    )
    if node.metrics_port is None:
        env.update(XP_CLOUDFLARED_MONITOR_MODE="none", XP_CLOUDFLARED_RESTART_MODE="none")
    else:
        env.update(
            XP_CLOUDFLARED_MONITOR_MODE="metrics",
            XP_CLOUDFLARED_METRICS_URL=f"http://127.0.0.1:{node.metrics_port}",
            XP_CLOUDFLARED_RESTART_MODE="command",
            XP_CLOUDFLARED_RESTART_COMMAND=_restart_command(workdir, node, "cloudflared"),
        )
    return env


@attrs.frozen
class DemoAgent:
    """A running agent process of the demo: its node and the process."""

    node: DemoNode
    agent: AgentProcess

    @property
    def process(self) -> trio.Process:
        return self.agent.process

    @property
    def pid(self) -> int:
        return self.agent.pid


async def _start(
    workdir: Workdir,
    node: DemoNode,
    base_env: Mapping[str, str],
    client: httpx.AsyncClient,
    agents: trio.Nursery,
) -> DemoAgent:
    """Start `node`'s agent as a task of `agents`; return once it answers."""
    try:
        agent = await agents.start(
            functools.partial(
                run_agent_process,
                agent_env(workdir, node, base_env),
                health_client=client,
                log_path=node.log_path,
            )
        )
    except AgentStartError as exc:
        raise DemoError(str(exc)) from None
    return DemoAgent(node, agent)


def _say_stopped(agent: DemoAgent, narrator: Narrator) -> None:
    node_id, returncode = agent.node.node_id, agent.process.returncode
    if agent.agent.killed:
        narrator.say("demo", f"{node_id}'s agent did not stop in time: killed it")
    how = "still running?!" if returncode is None else f"exit status {returncode}"
    narrator.say("demo", f"{node_id}'s agent stopped ({how})")


@asynccontextmanager
async def open_agents(
    workdir: Workdir, narrator: Narrator, *, base_env: Mapping[str, str] | None = None
) -> AsyncIterator[list[DemoAgent]]:
    """Start one agent per node, all at once, and wait until each answers; stop them
    all on exit (SIGTERM, a bounded wait, SIGKILL: `run_agent_process`).

    Raises DemoError when an agent does not come up.
    """
    base = dict(os.environ if base_env is None else base_env)
    started: dict[str, DemoAgent] = {}

    async def start(node: DemoNode) -> None:
        started[node.node_id] = await _start(workdir, node, base, client, agents)

    try:
        async with (
            httpx.AsyncClient(trust_env=False, timeout=2.0) as client,
            trio.open_nursery() as agents,
        ):
            async with trio.open_nursery() as starting:
                for node in workdir.nodes:
                    starting.start_soon(start, node)
            try:
                yield [started[node.node_id] for node in workdir.nodes]
            finally:
                # Whatever happened (Ctrl-C, an error): every agent is stopped.
                agents.cancel_scope.cancel()
    finally:
        for agent in started.values():
            _say_stopped(agent, narrator)


async def wait_until_one_exits(agents: Sequence[DemoAgent]) -> None:
    """Raise DemoError as soon as any agent exits (they should run until stopped)."""

    async def watch(agent: DemoAgent) -> None:
        returncode = await agent.process.wait()
        raise DemoError(
            f"the agent of {agent.node.node_id} exited unexpectedly with status "
            f"{returncode}; the end of its log ({agent.node.log_path}):\n"
            f"{agent.agent.log_tail()}"
        )

    async with trio.open_nursery() as nursery:
        for agent in agents:
            nursery.start_soon(watch, agent)
