"""The demo's working directory: the cluster file, the secret, the admin token, the
ports and where each node keeps its data and log.

```
DIR/
  cluster.toml          the three [[nodes]] (CONTRACT §2)
  cluster-secret        key of the internal signatures (mode 0600)
  admin-token           the bearer token for /api/admin/* (mode 0600)
  node-a/               XP_DATA_DIR of node-a: service_runtime.json, agent.log
  node-b/ ...
```

Every port is on 127.0.0.1: by default free ports the system hands out, or a
consecutive range from `--base-port`.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
from contextlib import ExitStack
from pathlib import Path

import attrs

__all__ = ["DEMO_NODES", "PORTS_NEEDED", "DemoNode", "NodePlan", "Workdir", "prepare_workdir"]


@attrs.frozen
class NodePlan:
    """Who a demo node is; `has_tunnel` says whether it runs cloudflared."""

    node_id: str
    node_name: str
    access_host: str
    has_tunnel: bool


DEMO_NODES = (
    NodePlan("node-a", "Tokyo edge", "tokyo.example.com", has_tunnel=True),
    # Frankfurt is reached directly: cloudflared is not used there, which the UI
    # shows as "not enabled on this node".
    NodePlan("node-b", "Frankfurt edge", "frankfurt.example.com", has_tunnel=False),
    NodePlan("node-c", "Virginia edge", "virginia.example.com", has_tunnel=True),
)

#: The control server, then per node its API, its xray and its cloudflared metrics.
PORTS_NEEDED = 1 + 3 * len(DEMO_NODES)


@attrs.frozen
class DemoNode:
    """A demo node with its ports and files. `metrics_port` is None without a tunnel."""

    plan: NodePlan
    api_port: int
    xray_port: int
    metrics_port: int | None
    data_dir: Path

    @property
    def node_id(self) -> str:
        return self.plan.node_id

    @property
    def node_name(self) -> str:
        return self.plan.node_name

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "agent.log"


@attrs.frozen
class Workdir:
    """Everything the demo wrote before starting anything."""

    root: Path
    nodes: tuple[DemoNode, ...]
    control_port: int
    admin_token: str

    @property
    def cluster_file(self) -> Path:
        return self.root / "cluster.toml"

    @property
    def secret_file(self) -> Path:
        return self.root / "cluster-secret"

    @property
    def token_file(self) -> Path:
        return self.root / "admin-token"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def restart_url(self, node_id: str, component: str) -> str:
        """Where an agent's restart command asks the simulated init system."""
        return f"{self.control_url}/restart/{node_id}/{component}"


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago.

    They are held open together, so the system cannot hand out one twice; another
    program could still take one before the demo binds it (then startup fails
    and says which).
    """
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read (mode 0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(text + "\n")
    os.chmod(path, 0o600)  # in case the file existed with a wider mode


def _cluster_toml(nodes: tuple[DemoNode, ...]) -> str:
    entries = [
        f'[[nodes]]\nnode_id = "{node.node_id}"\nnode_name = "{node.node_name}"\n'
        f'api_base_url = "{node.api_url}"\naccess_host = "{node.plan.access_host}"\n'
        for node in nodes
    ]
    header = "# Written by `xpagent demo`: three agents on this machine's loopback.\n\n"
    return header + "\n".join(entries)


def prepare_workdir(root: Path | None, *, base_port: int | None) -> Workdir:
    """Create (or reuse) the working directory and write the cluster's files.

    Without `root`, a new temporary directory; without `base_port`, free ports.
    A fresh secret and admin token are written on every start.
    """
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="xpagent-demo-"))
    else:
        root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    if base_port is None:
        ports = free_ports(PORTS_NEEDED)
    else:
        ports = list(range(base_port, base_port + PORTS_NEEDED))
    control_port, *node_ports = ports
    nodes = []
    for index, plan in enumerate(DEMO_NODES):
        api_port, xray_port, metrics_port = node_ports[3 * index : 3 * index + 3]
        data_dir = root / plan.node_id
        data_dir.mkdir(exist_ok=True)
        nodes.append(
            DemoNode(
                plan=plan,
                api_port=api_port,
                xray_port=xray_port,
                metrics_port=metrics_port if plan.has_tunnel else None,
                data_dir=data_dir,
            )
        )
    workdir = Workdir(
        root=root,
        nodes=tuple(nodes),
        control_port=control_port,
        admin_token=secrets.token_urlsafe(24),
    )
    workdir.cluster_file.write_text(_cluster_toml(workdir.nodes), encoding="utf-8")
    _write_private(workdir.secret_file, secrets.token_hex(32))
    _write_private(workdir.token_file, workdir.admin_token)
    return workdir
