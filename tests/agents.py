"""Real agents in the test process: settings through the real config loader, the real
nursery tree, hypercorn on loopback."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import attrs
import httpx
import trio

from tests.servers import free_port
from xpagent.agent import AgentHandle, run_agent
from xpagent.daemon import Settings, load_settings

TOKEN = "test-admin-token"
SECRET = b"0123456789abcdef0123456789abcdef-test-secret"


@attrs.define
class Cluster:
    """The files and ports of a test cluster; `settings(node_id)` for each member."""

    root: Path
    node_ids: tuple[str, ...]
    ports: dict[str, int]
    xray_addr: str
    env: dict[str, str] = attrs.Factory(dict)

    def url(self, node_id: str) -> str:
        return f"http://127.0.0.1:{self.ports[node_id]}"

    def settings(self, node_id: str, **env: str) -> Settings:
        values = {
            "XP_BIND": f"127.0.0.1:{self.ports[node_id]}",
            "XP_DATA_DIR": str(self.root / node_id),
            "XP_NODE_ID": node_id,
            "XP_CLUSTER_FILE": str(self.root / "cluster.toml"),
            "XP_CLUSTER_SECRET_FILE": str(self.root / "secret"),
            "XP_ADMIN_TOKEN": TOKEN,
            "XP_XRAY_API_ADDR": self.xray_addr,
            "XP_XRAY_HEALTH_INTERVAL_SECS": "1",
            "XP_RUNTIME_FANOUT_TIMEOUT_SECS": "1",
            **self.env,
            **env,
        }
        return load_settings({}, values, host_name="test-host").settings


def make_cluster(root: Path, node_ids: Sequence[str], *, xray_addr: str) -> Cluster:
    """Write the cluster file and secret for `node_ids` on fresh loopback ports."""
    ports = {node_id: free_port() for node_id in node_ids}
    entries = "".join(
        f'[[nodes]]\nnode_id = "{node_id}"\nnode_name = "Node {node_id.upper()}"\n'
        f'api_base_url = "http://127.0.0.1:{ports[node_id]}"\n\n'
        for node_id in node_ids
    )
    (root / "cluster.toml").write_text(entries)
    secret = root / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    return Cluster(root, tuple(node_ids), ports, xray_addr)


@attrs.define
class RunningAgent:
    handle: AgentHandle
    scope: trio.CancelScope
    #: Set once the agent has stopped completely (its final state write done).
    finished: trio.Event

    def stop(self) -> None:
        self.scope.cancel()

    async def stop_and_wait(self) -> None:
        """Stop it and wait until it is gone: only then may another agent use its
        data directory (a new agent clears the old one's temporary files)."""
        self.stop()
        await self.finished.wait()


async def _run_in_scope(
    settings: Settings,
    scope: trio.CancelScope,
    finished: trio.Event,
    *,
    task_status: trio.TaskStatus[AgentHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        with scope:
            await run_agent(settings, task_status=task_status)
    finally:
        finished.set()


async def start_agent(nursery: trio.Nursery, settings: Settings) -> RunningAgent:
    """Start an agent that can be stopped alone (its cancel scope)."""
    scope, finished = trio.CancelScope(), trio.Event()
    handle = await nursery.start(functools.partial(_run_in_scope, settings, scope, finished))
    return RunningAgent(handle, scope, finished)


def admin_client(base_url: str, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=httpx.Timeout(10.0),
        **kwargs,  # type: ignore[arg-type]
    )
