"""Stand-ins for xray's gRPC API in tests: a real grpcio server and a silent TCP port.

`FakeXrayApi` serves `xray.app.stats.command.StatsService/GetStats` with grpcio's
generic handlers (no generated code: requests and responses are raw protobuf
bytes). The test switches its behaviour between answering OK and aborting with a
status code, and can stop it and start it again on the same port.

`serve_silent_tcp` accepts connections and never sends a byte: a hung xray.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import grpc
import trio

from xpagent.daemon import GET_STATS_PATH

# The gRPC path is `/SERVICE/METHOD`; grpcio's generic handler wants them apart.
SERVICE, METHOD = GET_STATS_PATH.removeprefix("/").split("/")


def _length_delimited(field: int, payload: bytes) -> bytes:
    assert len(payload) < 128, "one-byte lengths are enough here"
    return bytes([field << 3 | 2, len(payload)]) + payload


def get_stats_response(name: str, value: int) -> bytes:
    """`GetStatsResponse{stat: Stat{name, value}}` as protobuf bytes (value < 128)."""
    assert 0 <= value < 128
    stat = _length_delimited(1, name.encode()) + bytes([2 << 3 | 0, value])
    return _length_delimited(1, stat)


def parse_get_stats_request(message: bytes) -> tuple[str, bool]:
    """`(name, reset)` of a `GetStatsRequest`; raises ValueError on anything else."""
    name, reset, position = "", False, 0
    while position < len(message):
        tag = message[position]
        if tag == 0x0A:
            length = message[position + 1]
            if length >= 128:
                raise ValueError("long names are not expected here")
            start = position + 2
            name = message[start : start + length].decode()
            if len(name.encode()) != length:
                raise ValueError("truncated name")
            position = start + length
        elif tag == 0x10:
            reset = message[position + 1] == 1
            position += 2
        else:
            raise ValueError(f"unexpected tag {tag:#x}")
    return name, reset


class FakeXrayApi:
    """A grpcio server on 127.0.0.1 answering GetStats as the test says.

    `abort_with` None answers OK with a counter; a `grpc.StatusCode` aborts the
    call with it. `requests` collects the raw request messages received.
    """

    def __init__(self) -> None:
        self.port = 0
        self.abort_with: grpc.StatusCode | None = None
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _get_stats(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.requests.append(request)
            abort_with = self.abort_with
        if abort_with is not None:
            context.abort(abort_with, "switched by the test")
        return get_stats_response("inbound>>>api>>>traffic>>>uplink", 42)

    def start(self) -> None:
        """Serve on `port` (any free port the first time)."""
        assert self._server is None, "already running"
        server = grpc.server(ThreadPoolExecutor(max_workers=2))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                METHOD: grpc.unary_unary_rpc_method_handler(
                    self._get_stats,
                    request_deserializer=lambda raw: raw,
                    response_serializer=lambda raw: raw,
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        if port == 0:
            raise RuntimeError(f"cannot bind 127.0.0.1:{self.port}")
        server.start()
        self.port = port
        self._server = server

    def stop(self) -> None:
        """Stop at once: in-flight calls are aborted and the port is closed."""
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None


@contextmanager
def running_xray_api() -> Iterator[FakeXrayApi]:
    api = FakeXrayApi()
    api.start()
    try:
        yield api
    finally:
        api.stop()


async def serve_silent_tcp(*, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Accept TCP connections on loopback and hold them without a word; never returns.

    `task_status.started` gets the `host:port` it listens on.
    """
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    host, port = listeners[0].socket.getsockname()[:2]

    async def hold(stream: trio.SocketStream) -> None:
        async with stream:
            await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, hold, listeners)
        task_status.started(f"{host}:{port}")
