"""A simulated xray: its gRPC API, as far as `StatsService/GetStats` goes.

It speaks real gRPC over HTTP/2 cleartext (prior knowledge), the way xray's API
inbound does, so xpagent's probe, grpcurl or any gRPC client can call it:

- `serving`: `GetStats` answers a `GetStatsResponse` whose counter grows with
  every call, then `grpc-status: 0` in the trailers;
- `unavailable`: the process runs, but every call is answered with
  `grpc-status: 14` (UNAVAILABLE), which the probe counts as a failure;
- stopped (crashed): the port refuses connections.

Any other method is UNIMPLEMENTED, as a gRPC server answers it. Protobuf is
written and read by hand: only `GetStatsRequest.name` and
`GetStatsResponse.stat{name, value}` are involved.
"""

from __future__ import annotations

import enum

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from xpagent.daemon import GET_STATS_PATH

from ._asgi import read_body, send_response, serve_lifespan
from ._process import SimulatedProcess

__all__ = ["GET_STATS_PATH", "SimulatedXray", "XrayApi", "XrayMode"]

_GRPC = b"application/grpc"
_INVALID_ARGUMENT, _UNIMPLEMENTED, _UNAVAILABLE = 3, 12, 14
#: What the counter grows by on each call, so a curious caller sees it move.
_BYTES_PER_CALL = 4096


class XrayMode(enum.StrEnum):
    SERVING = "serving"
    UNAVAILABLE = "unavailable"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at `position` and the position after it; ValueError if truncated."""
    value = shift = 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    raise ValueError("truncated varint")


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def parse_get_stats_request(frame: bytes) -> str:
    """The counter name asked for by a gRPC frame holding a `GetStatsRequest`.

    Raises ValueError for anything else (compressed, truncated, not protobuf).
    """
    if len(frame) < 5 or frame[0] != 0:
        raise ValueError("not an uncompressed gRPC message")
    length = int.from_bytes(frame[1:5], "big")
    message = frame[5:]
    if len(message) != length:
        raise ValueError("gRPC message length does not match")
    name, position = "", 0
    while position < len(message):
        key, position = _read_varint(message, position)
        wire_type = key & 0x7
        if wire_type == 0:
            _, position = _read_varint(message, position)
        elif wire_type == 2:
            size, position = _read_varint(message, position)
            payload = message[position : position + size]
            if len(payload) != size:
                raise ValueError("truncated field")
            position += size
            if key >> 3 == 1:
                name = payload.decode()
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
    return name


def get_stats_response(name: str, value: int) -> bytes:
    """A gRPC frame holding `GetStatsResponse{stat: Stat{name, value}}`."""
    stat = _field(1, name.encode()) + _varint(2 << 3 | 0) + _varint(value)
    message = _field(1, stat)
    return b"\x00" + len(message).to_bytes(4, "big") + message


async def _grpc_error(send: ASGISendCallable, code: int, message: str) -> None:
    """A gRPC error answer, without a message.

    gRPC servers send it "trailers-only": one HEADERS frame that ends the stream,
    carrying `grpc-status`. hypercorn cannot end a stream with its first HEADERS
    frame, so the status goes into the response headers (where clients that do
    not read trailers, like httpx, see it) and again into the trailers (where
    gRPC clients look for it).
    """
    status = [(b"grpc-status", str(code).encode()), (b"grpc-message", message.encode())]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", _GRPC), *status],
            "trailers": True,
        }
    )
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    await send({"type": "http.response.trailers", "headers": status})


class XrayApi:
    """The ASGI app of xray's API inbound. `mode` may be changed at any time."""

    def __init__(self) -> None:
        self.mode = XrayMode.SERVING
        self.calls = 0

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        frame = await read_body(receive)
        if frame is None:
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        if not content_type.startswith(_GRPC):
            await send_response(send, 415, b"xray's API speaks gRPC only\n")
            return
        if scope["path"] != GET_STATS_PATH:
            await _grpc_error(send, _UNIMPLEMENTED, f"unknown method {scope['path']}")
            return
        if self.mode is XrayMode.UNAVAILABLE:
            await _grpc_error(send, _UNAVAILABLE, "demo: xray is not serving its API")
            return
        try:
            name = parse_get_stats_request(frame)
        except ValueError as exc:
            await _grpc_error(send, _INVALID_ARGUMENT, f"cannot parse request: {exc}")
            return
        self.calls += 1
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", _GRPC)],
                "trailers": True,
            }
        )
        body = get_stats_response(name, self.calls * _BYTES_PER_CALL)
        await send({"type": "http.response.body", "body": body, "more_body": False})
        await send({"type": "http.response.trailers", "headers": [(b"grpc-status", b"0")]})


class SimulatedXray:
    """One node's xray: its API on `127.0.0.1:port`, which can crash and start again."""

    def __init__(self, port: int, nursery: trio.Nursery) -> None:
        self.api = XrayApi()
        self.process = SimulatedProcess(self.api, port, nursery)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.process.port}"

    @property
    def state(self) -> str:
        """`serving`, `unavailable` or `stopped`."""
        return self.api.mode.value if self.process.running else "stopped"

    @property
    def problem(self) -> str | None:
        """What is wrong while it runs, if anything."""
        if self.api.mode is XrayMode.UNAVAILABLE:
            return "its API still answers UNAVAILABLE"
        return None

    async def start(self) -> None:
        """Start (or restart) xray. An API answering UNAVAILABLE keeps doing so: its
        cause (load, a broken outbound) is not something a restart fixes."""
        await self.process.start()

    async def crash(self) -> None:
        await self.process.stop()

    def answer_unavailable(self, unavailable: bool) -> None:
        """While running, answer every call UNAVAILABLE (or serve again)."""
        self.api.mode = XrayMode.UNAVAILABLE if unavailable else XrayMode.SERVING

    async def wait_running(self) -> None:
        await self.process.wait_running()
