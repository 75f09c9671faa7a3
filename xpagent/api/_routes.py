"""The API's paths, each written once (CONTRACT §3): the routes `_app` serves, the
internal ones the fan-out and the relay ask other nodes for, and the health check
the agent launcher waits on. Flask-style `<node_id>` placeholders, as Quart routes
them."""

from __future__ import annotations

from xpagent.agent_process import HEALTH_PATH

__all__ = [
    "ADMIN_PREFIX",
    "HEALTH_PATH",
    "INTERNAL_PREFIX",
    "LOCAL_DETAIL_PATH",
    "LOCAL_EVENTS_PATH",
    "METRICS_PATH",
    "NODES_PATH",
    "NODE_EVENTS_PATH",
    "NODE_PATH",
    "NODE_RUNTIME_PATH",
    "RUNTIME_LIST_PATH",
]

#: Everything under it needs the admin token (when one is set).
ADMIN_PREFIX = "/api/admin/"
#: Everything under it needs a fresh internal signature instead.
INTERNAL_PREFIX = f"{ADMIN_PREFIX}_internal/"
NODES_PATH = f"{ADMIN_PREFIX}nodes"
RUNTIME_LIST_PATH = f"{NODES_PATH}/runtime"
NODE_PATH = f"{NODES_PATH}/<node_id>"
NODE_RUNTIME_PATH = f"{NODE_PATH}/runtime"
NODE_EVENTS_PATH = f"{NODE_RUNTIME_PATH}/events"
#: A node's own detail, asked for by the other nodes' fan-out.
LOCAL_DETAIL_PATH = f"{INTERNAL_PREFIX}nodes/runtime/local"
#: A node's own event stream, relayed by the other nodes.
LOCAL_EVENTS_PATH = f"{LOCAL_DETAIL_PATH}/events"
#: This node's runtime for Prometheus (CONTRACT §6); needs the admin token when one is set.
METRICS_PATH = "/metrics"
