"""The whole agent: one node's supervision and its HTTP API under one root nursery.

```
run_until_signal           SIGTERM/SIGINT → cancel
└─ run_agent               the root nursery
   ├─ serve_node           recorder, supervisors (xpagent.daemon)
   └─ serve_api            hypercorn + the Quart-Trio app, stream relays (xpagent.api)
```
"""

from __future__ import annotations

import functools
import gc
import signal

import attrs
import trio

from xpagent.api import check_can_listen, serve_api
from xpagent.daemon import NodeHandle, Settings, WallClock, logger, serve_node, system_clock

__all__ = [
    "GC_THRESHOLDS",
    "AgentHandle",
    "run_agent",
    "run_until_signal",
    "tune_garbage_collector",
]

#: Generation thresholds for `gc.set_threshold` (CPython's defaults: 700, 10, 10).
GC_THRESHOLDS = (10_000, 10, 50)


@attrs.frozen
class AgentHandle:
    """A running agent: its node and the URLs its API listens on."""

    node: NodeHandle
    urls: tuple[str, ...]


async def run_agent(
    settings: Settings,
    *,
    clock: WallClock = system_clock,
    task_status: trio.TaskStatus[AgentHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the node and serve its API until cancelled.

    Raises ListenError, before anything is recorded, when `XP_BIND` cannot be used.
    """
    check_can_listen(settings)
    async with trio.open_nursery() as nursery:
        node = await nursery.start(functools.partial(serve_node, settings, clock=clock))
        urls = await nursery.start(serve_api, node)
        task_status.started(AgentHandle(node=node, urls=tuple(urls)))


def tune_garbage_collector() -> None:
    """Fewer, cheaper full collections for a long-running server process.

    What exists once the agent has started (modules, the restored history) lives
    as long as the process: `gc.freeze` takes it out of every later collection.
    Larger thresholds make collections rarer; a full collection over a thousand
    open event streams otherwise stalls every stream for a fifth of a second.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLDS[0], GC_THRESHOLDS[1], GC_THRESHOLDS[2])


async def run_until_signal(settings: Settings) -> None:
    """`xpagent run`: the agent until SIGTERM or SIGINT, then a clean stop."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_agent, settings)
            tune_garbage_collector()
            async for signum in signals:
                logger.info("received %s, stopping", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
