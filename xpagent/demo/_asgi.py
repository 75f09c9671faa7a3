"""The little of ASGI the demo's simulated servers need: lifespan, a bounded request
body and a whole response in one go."""

from __future__ import annotations

from collections.abc import Iterable

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable

__all__ = ["MAX_BODY_BYTES", "read_body", "send_response", "serve_lifespan"]

#: Every request the simulated servers expect is tiny.
MAX_BODY_BYTES = 64 * 1024


async def serve_lifespan(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Acknowledge startup and shutdown: these apps hold nothing to set up."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: ASGIReceiveCallable) -> bytes | None:
    """The request body, or None when it is larger than `MAX_BODY_BYTES` or the client
    went away."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message["body"]
        if len(body) > MAX_BODY_BYTES:
            return None
        if not message["more_body"]:
            return bytes(body)


async def send_response(
    send: ASGISendCallable,
    status: int,
    body: bytes = b"",
    *,
    content_type: bytes = b"text/plain; charset=utf-8",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A complete response: status, headers and the whole body."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
