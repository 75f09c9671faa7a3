"""Short human reasons for httpx's transport errors, and what kind of failure each is.

httpx wraps the socket error two or three levels deep (httpx → httpcore → trio →
an `ExceptionGroup` of per-address attempts → `OSError`); operators want to read
`connection refused`, not that chain. `describe_transport_error` digs the root
cause out and falls back on the httpx class when there is none;
`classify_transport_error` says which `TransportFailure` it was — a timeout, a
connection that failed or broke, TLS, an answer that was not HTTP, a URL that
cannot be asked — so that callers can raise their own error for each.
"""

from __future__ import annotations

import enum
import errno
import socket
import ssl
from collections.abc import Iterator

import httpx

__all__ = [
    "TransportFailure",
    "classify_transport_error",
    "describe_transport_error",
    "shorten_reason",
]

_MAX_DETAIL_CHARS = 120

_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EPIPE: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.ETIMEDOUT: "connection timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EADDRNOTAVAIL: "address not available",
}

# Most specific first: the first matching class gives the reason.
_CLASS_REASONS: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectTimeout, "connect timed out"),
    (httpx.ReadTimeout, "read timed out"),
    (httpx.WriteTimeout, "write timed out"),
    (httpx.PoolTimeout, "timed out waiting for a free connection"),
    (httpx.TimeoutException, "timed out"),
    (httpx.ConnectError, "connection failed"),
    (httpx.ReadError, "connection broken while reading"),
    (httpx.WriteError, "connection broken while writing"),
    (httpx.ProxyError, "proxy error"),
    (httpx.UnsupportedProtocol, "unsupported URL"),
    # Local or remote alike: httpcore reports a bad frame from an HTTP/2 server
    # as a LocalProtocolError.
    (httpx.ProtocolError, "protocol error"),
    (httpx.DecodingError, "undecodable response body"),
    (httpx.TooManyRedirects, "too many redirects"),
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the members of any exception group, in order."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


def shorten_reason(text: str, limit: int = _MAX_DETAIL_CHARS) -> str:
    """`text` on one line, white space collapsed, cut to `limit` characters."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _root_reasons(exc: BaseException) -> list[str]:
    reasons: list[str] = []
    for cause in _causes(exc):
        reason: str | None = None
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = f"TLS certificate not trusted ({shorten_reason(cause.verify_message or '')})"
        elif isinstance(cause, ssl.SSLError):
            reason = f"TLS error ({shorten_reason(cause.reason or str(cause))})"
        elif isinstance(cause, socket.gaierror):
            reason = f"cannot resolve host ({shorten_reason(cause.strerror or str(cause))})"
        elif isinstance(cause, OSError) and cause.errno in _ERRNO_REASONS:
            reason = _ERRNO_REASONS[cause.errno]
        if reason is not None and reason not in reasons:
            reasons.append(reason)
    return reasons


def _closed_by_server(exc: httpx.HTTPError) -> str | None:
    """The reason when `exc` is the server closing the connection instead of answering."""
    if isinstance(exc, httpx.RemoteProtocolError):
        message = str(exc)
        if "disconnect" in message.lower():
            return "connection closed by the server"
        if "ConnectionTerminated" in message:  # an HTTP/2 GOAWAY
            return "connection closed by the server (GOAWAY)"
    return None


def describe_transport_error(exc: httpx.HTTPError) -> str:
    """A short reason for a failed request: `connection refused`, `read timed out`, …"""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        # A timeout's cause is trio.TooSlowError, never more telling than the class.
        return next(reason for cls, reason in _CLASS_REASONS if isinstance(exc, cls))
    roots = _root_reasons(exc)
    if roots:
        # Several addresses tried (IPv6, IPv4) may each have failed differently.
        return " / ".join(roots)
    closed = _closed_by_server(exc)
    if closed is not None:
        return closed
    for cls, reason in _CLASS_REASONS:
        if isinstance(exc, cls):
            detail = shorten_reason(str(exc))
            return f"{reason}: {detail}" if detail else reason
    return shorten_reason(f"{type(exc).__name__}: {exc}")


class TransportFailure(enum.Enum):
    """What kind of failure an httpx error was."""

    #: No answer in time (connect, read, write or a free pooled connection).
    TIMEOUT = "timeout"
    #: No connection, or it broke: refused, reset, unreachable, unresolvable, closed.
    CONNECTION = "connection"
    #: The TLS handshake failed or the certificate was not trusted.
    TLS = "tls"
    #: Bytes came back that were not a usable HTTP answer.
    PROTOCOL = "protocol"
    #: The URL cannot be asked at all (an unsupported scheme).
    URL = "url"


def classify_transport_error(exc: httpx.HTTPError) -> TransportFailure:
    """Which kind of failure `exc` was (an `HTTPStatusError` is a PROTOCOL one here:
    callers that care check the status first)."""
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure.TIMEOUT
    if any(isinstance(cause, ssl.SSLError) for cause in _causes(exc)):
        return TransportFailure.TLS
    if isinstance(exc, httpx.UnsupportedProtocol):
        return TransportFailure.URL
    if (
        isinstance(exc, (httpx.NetworkError, httpx.ProxyError))
        or _root_reasons(exc)
        or _closed_by_server(exc) is not None
    ):
        return TransportFailure.CONNECTION
    return TransportFailure.PROTOCOL
