"""Real servers for tests: any ASGI app on a free loopback port, and free ports."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio


def free_port() -> int:
    """A loopback port where nothing listens (bound, then released a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve_asgi(
    app: Any,
    tls: tuple[Path, Path] | None = None,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` with hypercorn on a free loopback port (HTTP/1.1 and h2c, or TLS
    with `tls` = cert and key files); `task_status.started` gets its base URL."""
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    if tls is not None:
        config.certfile, config.keyfile = map(str, tls)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(hypercorn.trio.serve, app, config)
        task_status.started(binds[0])
