"""gzip on the wire, both ways (CONTRACT §6: JSON answers may be gzip-compressed when
the request accepts it; event streams never).

Serving: `compress_json_answers` installs an `after_request` hook (Quart's own
facility; the gzip framing is the standard library's) that compresses an
`application/json` answer of at least `MIN_COMPRESSED_BYTES` for a request whose
`Accept-Encoding` takes gzip: a whole body at once (in a worker thread when it is
large: zlib releases the GIL), a streamed one (the aggregated list) chunk by
chunk. Every JSON answer says `Vary: Accept-Encoding`. Nothing else is touched:
event streams (`text/event-stream`) are never compressed, so no frame waits in a
compressor's buffer; the web UI's files are left as they are.

Reading: `read_decoded` reads another node's answer, gzip or not, and gives up as
soon as the *decoded* body passes a limit, decompressing at most that much (a
small gzip body can stand for gigabytes; httpx would inflate a whole chunk at
once). Its failures are `RemoteBadAnswer`s, like any answer that is not one.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import cast

import httpx
import trio
from quart import Quart, Response, request
from quart.wrappers.response import DataBody, IterableBody, ResponseBody

from ._exceptions import RemoteBadAnswer

__all__ = [
    "ACCEPT_ENCODING",
    "COMPRESSION_LEVEL",
    "MIN_COMPRESSED_BYTES",
    "compress_json_answers",
    "read_decoded",
]

#: Below about a kilobyte gzip's header and dictionary cost more than they save.
MIN_COMPRESSED_BYTES = 1024
#: zlib's default: for the list's repetitive JSON, levels above it save ~1 % more and
#: cost twice the time; level 1 is ~2x faster and ~25 % larger (bench/cluster_scale.py).
COMPRESSION_LEVEL = 6
#: Bodies this large are compressed in a worker thread, off the event loop.
_THREAD_BYTES = 256 * 1024
#: What this node's fan-out sends.
ACCEPT_ENCODING = "gzip"
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def _accepts_gzip() -> bool:
    return request.accept_encodings.quality("gzip") > 0


async def _gzipped_stream(body: ResponseBody) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    async with body as chunks:
        async for chunk in chunks:
            packed = compressor.compress(chunk)
            if packed:
                yield packed
    yield compressor.flush()


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=COMPRESSION_LEVEL, mtime=0)


def compress_json_answers(app: Quart) -> None:
    """Make `app` gzip its JSON answers for requests that accept it."""

    @app.after_request
    async def compress(response: Response) -> Response:
        if response.mimetype != "application/json" or "Content-Encoding" in response.headers:
            return response
        response.vary.add("Accept-Encoding")
        if not _accepts_gzip():
            return response
        body = response.response
        if isinstance(body, DataBody):
            data = await response.get_data(as_text=False)
            if len(data) < MIN_COMPRESSED_BYTES:
                return response
            if len(data) >= _THREAD_BYTES:
                packed = await trio.to_thread.run_sync(_gzip, data)
            else:
                packed = _gzip(data)
            response.set_data(packed)
        elif isinstance(body, IterableBody):
            # Streamed: its length is not known, so it is compressed whatever it is.
            response.response = IterableBody(_gzipped_stream(body))
            response.headers.pop("Content-Length", None)
        else:
            return response
        response.headers["Content-Encoding"] = "gzip"
        return response


async def read_decoded(response: httpx.Response, limit: int) -> bytes | None:
    """The body of `response` (read raw, un-gzipped if it is gzip), or None as soon as
    it is longer than `limit` bytes; raises RemoteBadAnswer for a broken gzip body or
    an encoding that was not asked for."""
    if response.is_stream_consumed:
        # Already read whole (and decoded) by httpx: a response built in memory.
        return response.content if len(response.content) <= limit else None
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(_GZIP_WBITS)
    elif encoding in ("", "identity"):
        decoder = None
    else:
        raise RemoteBadAnswer(f"invalid answer: unexpected content encoding {encoding[:40]!r}")
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    # Stopping early leaves httpx's inner body generators to the garbage collector,
    # which trio reports as a ResourceWarning (encode/httpx#3686); the connection is
    # closed when the caller's `stream()` block ends. aclosing at least closes ours.
    raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())
    async with aclosing(raw) as body:
        async for chunk in body:
            pending = chunk
            while pending:
                if decoder is None:
                    data, pending = pending, b""
                else:
                    try:
                        # Never more than one byte past the limit, however small `pending`.
                        data = decoder.decompress(pending, limit - size + 1)
                    except zlib.error:
                        raise RemoteBadAnswer("invalid answer: broken gzip body") from None
                    pending = decoder.unconsumed_tail
                size += len(data)
                if size > limit:
                    return None
                chunks.append(data)
    if decoder is not None and not decoder.eof:
        raise RemoteBadAnswer("invalid answer: gzip body cut short")
    return b"".join(chunks)
