"""The HTTP API: admin and internal routes, the signed fan-out and the event streams.

Its exceptions form one tree, drawn in `_exceptions`' docstring.
"""

from xpagent.exception_groups import first_leaf

from ._app import Api, ApiError, create_app
from ._exceptions import (
    EventStreamError,
    ListenError,
    RemoteBadAnswer,
    RemoteConfigError,
    RemoteConnectionError,
    RemoteNodeError,
    RemoteStatusError,
    RemoteTimeout,
    RemoteTLSError,
    SignatureError,
)
from ._fanout import ClusterClient
from ._routes import HEALTH_PATH, LOCAL_DETAIL_PATH, LOCAL_EVENTS_PATH
from ._server import check_can_listen, serve_api
from ._signature import SIGNATURE_HEADER, sign, verify
from ._sse import StreamRelays
from ._web import STATIC_DIR

__all__ = [
    "HEALTH_PATH",
    "LOCAL_DETAIL_PATH",
    "LOCAL_EVENTS_PATH",
    "SIGNATURE_HEADER",
    "STATIC_DIR",
    "Api",
    "ApiError",
    "ClusterClient",
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
    "StreamRelays",
    "check_can_listen",
    "create_app",
    "first_leaf",
    "serve_api",
    "sign",
    "verify",
]
