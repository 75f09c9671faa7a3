"""The HTTP API: admin and internal routes, the signed fan-out and the event streams."""

from ._app import Api, ApiError, create_app
from ._fanout import ClusterClient, RemoteNodeError
from ._server import ListenError, check_can_listen, first_leaf, serve_api
from ._signature import SIGNATURE_HEADER, SignatureError, sign, verify
from ._sse import StreamRelays
from ._web import STATIC_DIR

__all__ = [
    "SIGNATURE_HEADER",
    "STATIC_DIR",
    "Api",
    "ApiError",
    "ClusterClient",
    "ListenError",
    "RemoteNodeError",
    "SignatureError",
    "StreamRelays",
    "check_can_listen",
    "create_app",
    "first_leaf",
    "serve_api",
    "sign",
    "verify",
]
