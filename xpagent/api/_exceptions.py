"""The API layer's exceptions: this module's docstring is their tree.

```
Exception
├── ApiError                    an answer in the contract's error shape (in `_app`,
│                               which renders it; `code` and `message`)
├── SignatureError              an internal signature is missing, malformed, wrong or
│                               stale (`reason`)
├── RemoteNodeError             another node gave no usable answer (`reason`, short and
│   │                           readable; `str(exc) == reason`, the contract's `error`)
│   ├── RemoteConfigError       it cannot be asked from here: no cluster secret, a bad
│   │                           API URL
│   ├── RemoteTimeout           no answer within the fan-out deadline (or no free
│   │                           request slot in it)
│   ├── RemoteConnectionError   no connection, or it broke: refused, reset, host
│   │   │                       unreachable, name not resolved, closed mid-answer
│   │   └── RemoteTLSError      the TLS handshake failed or the certificate was not
│   │                           trusted
│   ├── RemoteStatusError       it answered, with a status other than 2xx
│   │                           (`status_code`)
│   └── RemoteBadAnswer         it answered 2xx with something that is not a runtime
│                               detail of that node: too large, not JSON, not the
│                               contract's shape, another node's, not HTTP at all
└── ValueError
    └── EventStreamError        bytes from another node that are not a usable event
                                stream of the contract (the relay's `node_error`)
OSError
└── ListenError                 the API cannot listen on `XP_BIND`
```

Each `RemoteNodeError` class has a `kind` (`config`, `timeout`, `connection`, `tls`,
`http_status`, `bad_answer`): an unreachable node's list item carries it as
`error_kind`, next to the readable `error`, so a client can tell them apart.

`remote_transport_error` turns an httpx error into the `RemoteNodeError` of its
kind, with `xpagent.daemon.describe_transport_error`'s reason. Cancellation is
never one of these: it passes through untouched.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from xpagent.daemon import TransportFailure, classify_transport_error, describe_transport_error

__all__ = [
    "EventStreamError",
    "ListenError",
    "RemoteBadAnswer",
    "RemoteConfigError",
    "RemoteConnectionError",
    "RemoteNodeError",
    "RemoteStatusError",
    "RemoteTLSError",
    "RemoteTimeout",
    "SignatureError",
    "remote_transport_error",
]


class SignatureError(Exception):
    """A request's internal signature is missing, malformed, wrong or stale."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RemoteNodeError(Exception):
    """Another node could not give a usable answer; `reason` says why, `kind` (the
    list item's `error_kind`) which kind of failure it was."""

    kind: ClassVar[str] = "unknown"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RemoteConfigError(RemoteNodeError):
    """The node cannot be asked from here (no cluster secret, a bad API URL)."""

    kind = "config"


class RemoteTimeout(RemoteNodeError):
    """The node gave no answer within the deadline."""

    kind = "timeout"


class RemoteConnectionError(RemoteNodeError):
    """No connection to the node, or it broke before the answer was in."""

    kind = "connection"


class RemoteTLSError(RemoteConnectionError):
    """The TLS handshake with the node failed, or its certificate is not trusted."""

    kind = "tls"


class RemoteStatusError(RemoteNodeError):
    """The node answered with a status other than 2xx."""

    kind = "http_status"

    def __init__(self, reason: str, status_code: int) -> None:
        super().__init__(reason)
        self.status_code = status_code


class RemoteBadAnswer(RemoteNodeError):
    """The node answered, but not with a usable runtime detail of its own."""

    kind = "bad_answer"


class EventStreamError(ValueError):
    """Bytes from another node are not a usable event stream of the contract; the
    message says why in a few words (`not UTF-8`, `snapshot frame: not JSON (…)`)."""


class ListenError(OSError):
    """The API cannot listen on `XP_BIND` (address in use, not ours, no permission)."""


_REMOTE_ERRORS: dict[TransportFailure, type[RemoteNodeError]] = {
    TransportFailure.TIMEOUT: RemoteTimeout,
    TransportFailure.CONNECTION: RemoteConnectionError,
    TransportFailure.TLS: RemoteTLSError,
    TransportFailure.PROTOCOL: RemoteBadAnswer,
    TransportFailure.URL: RemoteConfigError,
}


def remote_transport_error(exc: httpx.HTTPError) -> RemoteNodeError:
    """The `RemoteNodeError` of `exc`'s kind, its reason short and readable."""
    reason = describe_transport_error(exc)
    if isinstance(exc, httpx.HTTPStatusError):
        return RemoteStatusError(reason, exc.response.status_code)
    return _REMOTE_ERRORS[classify_transport_error(exc)](reason)
