"""The control server: the simulated init system the agents' restart commands call.

Plain HTTP/1.1 on loopback:

- `POST /restart/{node_id}/{component}` restarts a simulated component. It
  answers 200 once the component was restarted, 500 with a one-line message
  like systemd's when the restart failed, 404 for a component the node does not
  run. `python -m xpagent.demo.restart URL` turns that into an exit status.
- `GET /` shows the state of every simulated component as JSON, for the curious.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from ._asgi import read_body, send_response, serve_lifespan

if TYPE_CHECKING:  # the fleet module starts this server: no import cycle at run time
    from ._fleet import SimulatedNode

__all__ = ["ControlApp"]


class ControlApp:
    """The control server's ASGI app over the simulated `fleet`."""

    def __init__(self, fleet: Sequence[SimulatedNode]) -> None:
        self.fleet = {node.node_id: node for node in fleet}

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http" or await read_body(receive) is None:
            return
        method, parts = scope["method"], scope["path"].strip("/").split("/")
        if method == "GET" and parts == [""]:
            state = {node_id: node.describe() for node_id, node in self.fleet.items()}
            body = json.dumps({"nodes": state}, indent=2).encode() + b"\n"
            await send_response(send, 200, body, content_type=b"application/json")
            return
        if len(parts) == 3 and parts[0] == "restart":
            if method != "POST":
                await send_response(send, 405, b"use POST\n", headers=[(b"allow", b"POST")])
                return
            node = self.fleet.get(parts[1])
            if node is None:
                await send_response(send, 404, f"no demo node {parts[1]}\n".encode())
                return
            answer = await node.restart(parts[2])
            status = 200 if answer.ok else 500 if answer.known else 404
            await send_response(send, status, answer.message.encode() + b"\n")
            return
        await send_response(send, 404, b"not found\n")
