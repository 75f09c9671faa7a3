"""Serving the API with hypercorn's trio worker, as a task of the agent's nursery."""

from __future__ import annotations

import functools
import logging
import socket

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from xpagent.daemon import NodeHandle, Settings, logger
from xpagent.exception_groups import first_leaf

from ._app import Api, create_app
from ._exceptions import ListenError
from ._fanout import ClusterClient
from ._sse import StreamRelays

__all__ = ["SHUTDOWN_GRACE_SECS", "ListenError", "check_can_listen", "serve_api"]

#: How long open requests may finish once the server stops (event streams are cut).
SHUTDOWN_GRACE_SECS = 1.0


def _bind_address(settings: Settings) -> str:
    host, port = settings.bind_host, settings.bind_port
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _hypercorn_config(node: NodeHandle) -> Config:
    config = Config()
    config.bind = [_bind_address(node.settings)]
    config.accesslog = None
    # hypercorn's own "Running on …" would repeat our "API listening on …" line.
    errorlog = logging.getLogger("xpagent.http")
    errorlog.setLevel(logging.WARNING)
    config.errorlog = errorlog
    config.graceful_timeout = SHUTDOWN_GRACE_SECS
    config.keep_alive_timeout = 30
    config.include_server_header = False
    return config


def check_can_listen(settings: Settings) -> None:
    """Fail early, before the node records a run, when `XP_BIND` is taken or not ours.

    Best effort: the port is bound and released at once, as hypercorn will bind it
    (SO_REUSEADDR); a port taken in between is still reported by `serve_api`.
    """
    if settings.bind_port == 0:
        return
    host = settings.bind_host
    try:
        infos = socket.getaddrinfo(host, settings.bind_port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or exc
        raise ListenError(f"cannot listen on XP_BIND={_bind_address(settings)}: {reason}") from None


async def serve_api(
    node: NodeHandle, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the API of `node` until cancelled; `task_status.started` gets the bound URLs."""
    settings = node.settings
    cluster = ClusterClient(
        node.http_client,
        key=settings.cluster_secret,
        timeout_secs=float(settings.runtime_fanout_timeout_secs),
        clock=node.recorder.now,
    )
    relays = StreamRelays(cluster, node.http_client)
    app = create_app(Api(node=node, cluster=cluster, relays=relays))
    async with trio.open_nursery() as nursery:
        await nursery.start(relays.run)
        try:
            binds = await nursery.start(functools.partial(serve, app, _hypercorn_config(node)))
        except* OSError as group:
            reason = first_leaf(group)
            detail = reason.strerror if isinstance(reason, OSError) else None
            raise ListenError(
                f"cannot listen on XP_BIND={_bind_address(node.settings)}: {detail or reason}"
            ) from None
        logger.info("API listening on %s", " ".join(binds), extra={"component": "xp"})
        task_status.started(binds)
