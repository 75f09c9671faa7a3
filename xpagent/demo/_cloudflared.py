"""A simulated cloudflared: the metrics server of a Cloudflare Tunnel connector.

Real cloudflared answers `GET /ready` on its metrics address with 200 while the
tunnel has at least one connection to Cloudflare's edge, and 503 when it has none
— even though the process runs and its init system calls it active. That is the
failure the demo shows: the agents probe this endpoint
(`XP_CLOUDFLARED_MONITOR_MODE=metrics`), so a tunnel without an edge connection is
`down` for them. A stopped process refuses connections on the port.
"""

from __future__ import annotations

import json

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from ._asgi import read_body, send_response, serve_lifespan
from ._process import SimulatedProcess

__all__ = ["CloudflaredMetrics", "SimulatedCloudflared"]

#: cloudflared keeps four connections to the edge when all is well.
_HEALTHY_CONNECTIONS = 4
_JSON = b"application/json"


class CloudflaredMetrics:
    """The ASGI app of cloudflared's metrics server. `edge_connected` may change any time."""

    def __init__(self, connector_id: str) -> None:
        self.connector_id = connector_id
        self.edge_connected = True

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http" or await read_body(receive) is None:
            return
        connections = _HEALTHY_CONNECTIONS if self.edge_connected else 0
        if scope["method"] == "GET" and scope["path"] == "/ready":
            status = 200 if connections else 503
            body = {
                "status": status,
                "readyConnections": connections,
                "connectorId": self.connector_id,
            }
            await send_response(send, status, json.dumps(body).encode(), content_type=_JSON)
        elif scope["method"] == "GET" and scope["path"] == "/metrics":
            text = (
                "# HELP cloudflared_tunnel_ha_connections Number of active ha connections\n"
                "# TYPE cloudflared_tunnel_ha_connections gauge\n"
                f"cloudflared_tunnel_ha_connections {connections}\n"
            )
            await send_response(send, 200, text.encode(), content_type=b"text/plain")
        else:
            await send_response(send, 404, b"404 page not found\n")


class SimulatedCloudflared:
    """One node's cloudflared, seen through its metrics server on `127.0.0.1:port`."""

    def __init__(self, node_id: str, port: int, nursery: trio.Nursery) -> None:
        self.metrics = CloudflaredMetrics(connector_id=f"demo-connector-{node_id}")
        self.process = SimulatedProcess(self.metrics, port, nursery)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.process.port}"

    @property
    def state(self) -> str:
        """`connected`, `no edge connection` or `stopped`."""
        if not self.process.running:
            return "stopped"
        return "connected" if self.metrics.edge_connected else "no edge connection"

    @property
    def problem(self) -> str | None:
        """What is wrong while it runs, if anything."""
        if not self.metrics.edge_connected:
            return "its tunnel still has no edge connection (/ready answers 503)"
        return None

    async def start(self) -> None:
        """Start (or restart) the process; the edge connection is not its to decide."""
        await self.process.start()

    async def stop(self) -> None:
        await self.process.stop()

    def lose_edge(self) -> None:
        self.metrics.edge_connected = False

    def regain_edge(self) -> None:
        self.metrics.edge_connected = True
