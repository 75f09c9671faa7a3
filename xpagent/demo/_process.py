"""A simulated daemon: an ASGI app served by hypercorn on a fixed loopback port.

`start` binds the port and serves; `stop` cancels the server, so the port refuses
connections at once, the way it does when a real daemon has crashed. It can then
be started again on the same port (hypercorn sets `SO_REUSEADDR`). Each run of
the server lives in its own cancel scope inside the nursery the process was
given, so stopping one simulated daemon leaves every other one running.

hypercorn speaks HTTP/1.1 and, on the same cleartext port, HTTP/2 with prior
knowledge, which is how xpagent talks to xray's gRPC API.
"""

from __future__ import annotations

import functools
import logging

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from hypercorn.typing import ASGIFramework

from xpagent.exception_groups import leaves

__all__ = ["SimulatedProcess"]

# hypercorn's own records (errors in an app) go here; without logging configured,
# only warnings and errors reach stderr.
_http_log = logging.getLogger("xpagent.demo.http")


def _config(port: int) -> Config:
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = _http_log
    config.include_server_header = False
    return config


def _only_os_error(error: BaseException) -> OSError | None:
    """The OSError that `error` is, or that its groups hold alone; else None."""
    match leaves(error):
        case [OSError() as only]:
            return only
        case _:
            return None


class SimulatedProcess:
    """`app` served on `127.0.0.1:port` while the process "runs"."""

    def __init__(self, app: ASGIFramework, port: int, nursery: trio.Nursery) -> None:
        self.app = app
        self.port = port
        self._nursery = nursery
        self._lock = trio.Lock()
        self._scope: trio.CancelScope | None = None
        self._stopped = trio.Event()
        self._running = trio.Event()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._scope is not None

    async def start(self) -> None:
        """Bind the port and serve; returns once connections are accepted.

        Raises OSError when the port cannot be bound.
        """
        async with self._lock:
            if self._scope is None:
                scope, stopped = trio.CancelScope(), trio.Event()
                try:
                    await self._nursery.start(functools.partial(self._serve, scope, stopped))
                except (OSError, BaseExceptionGroup) as exc:
                    # hypercorn's nurseries wrap a bind error in (nested) groups.
                    error = _only_os_error(exc)
                    if error is None:
                        raise
                    reason = error.strerror or str(error)
                    raise OSError(error.errno, f"cannot listen on {self.addr}: {reason}") from exc
                self._scope, self._stopped = scope, stopped
                self._running.set()

    async def stop(self) -> None:
        """Stop serving; returns once the port refuses connections."""
        async with self._lock:
            if self._scope is not None:
                self._scope.cancel()
                await self._stopped.wait()

    async def wait_running(self) -> None:
        """Return once the process runs (at once if it does)."""
        await self._running.wait()

    async def _serve(
        self,
        scope: trio.CancelScope,
        stopped: trio.Event,
        *,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            with scope:
                await serve(self.app, _config(self.port), task_status=task_status)
        finally:
            if self._scope is scope:
                self._scope = None
                self._running = trio.Event()
            stopped.set()
