"""`xpagent status`: the cluster's runtime as a terminal table (or JSON), asked of an
agent over its admin API. The view (`table`, `document`, `exit_status`) is pure; the
command asks the agent and prints it."""

from ._command import (
    EXIT_ALL_UP,
    EXIT_NOT_ALL_UP,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    StatusError,
    add_status_arguments,
    fetch_runtime,
    run_status,
    url_from_bind,
)
from ._view import STRIP_SLOTS, NodeRow, availability, document, exit_status, node_rows, table

__all__ = [
    "EXIT_ALL_UP",
    "EXIT_NOT_ALL_UP",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "STRIP_SLOTS",
    "NodeRow",
    "StatusError",
    "add_status_arguments",
    "availability",
    "document",
    "exit_status",
    "fetch_runtime",
    "node_rows",
    "run_status",
    "table",
    "url_from_bind",
]
