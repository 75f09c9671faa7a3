"""Narrating what the agents record, as they record it.

For each node the demo follows that agent's own event stream
(`GET /api/admin/nodes/{node_id}/runtime/events`, Server-Sent Events, with the
admin token) and prints every `event` frame. So the terminal shows cause and
effect side by side: the scenario's fault, then the agent noticing it, asking
for a restart and recording the outcome. A broken stream is opened again after a
second.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx
import trio
from httpx_sse import SSEError, aconnect_sse

from xpagent.core import CodecError, Event, EventLevel, from_json_value

from ._narrator import Narrator
from ._workdir import DemoNode

__all__ = ["follow_events"]

_RETRY_SECS = 1.0


def _describe(data: str) -> tuple[str, bool]:
    """An `event` frame's message, and whether it is a warning."""
    try:
        event = from_json_value(json.loads(data), Event)
    except (ValueError, CodecError):
        return f"(unreadable event) {data[:200]}", False
    return event.message, event.level is EventLevel.WARNING


async def _follow(
    node: DemoNode, client: httpx.AsyncClient, token: str, narrator: Narrator
) -> None:
    url = f"{node.api_url}/api/admin/nodes/{node.node_id}/runtime/events?events_limit=0"
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        try:
            async with aconnect_sse(client, "GET", url, headers=headers) as source:
                source.response.raise_for_status()
                async for sse in source.aiter_sse():
                    if sse.event == "event":
                        message, warning = _describe(sse.data)
                        narrator.say(node.node_id, f"{'! ' if warning else ''}{message}")
        except (httpx.HTTPError, SSEError):
            pass  # the agent is restarting or stopping; try again shortly
        await trio.sleep(_RETRY_SECS)


async def follow_events(nodes: Sequence[DemoNode], token: str, narrator: Narrator) -> None:
    """Print the events every node's agent records, until cancelled."""
    timeout = httpx.Timeout(5.0, read=None)  # a quiet stream is not an error
    async with (
        httpx.AsyncClient(trust_env=False, timeout=timeout) as client,
        trio.open_nursery() as nursery,
    ):
        for node in nodes:
            nursery.start_soon(_follow, node, client, token, narrator)
