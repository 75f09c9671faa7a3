"""The node daemon's nursery tree: supervision and persistence of one node.

```
serve_node                 loads the state, records the start, and at the end the stop
├─ recorder.run            persists the state file when due
├─ xray data-plane probe   only when XP_XRAY_DATAPLANE_PROXY is set: keeps the
│                          latest answer xray's supervisor reads
└─ supervisor: COMPONENT   one per enabled component (xray; cloudflared unless
                           disabled), restarted with backoff if it crashes
```

`xpagent.agent` puts this beside the HTTP server under the root nursery.
Shutdown is cancellation: when the tree is cancelled, `serve_node` records `xp`
going down and writes the state file under a shielded, time-limited scope.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import httpx
import trio

from xpagent.core import NodeRuntime

from ._clock import WallClock, system_clock
from ._hub import Hub
from ._logging import logger
from ._probes import ProbeClients, open_data_plane, open_grpc_client
from ._recorder import Recorder
from ._settings import Settings
from ._state_store import STATE_FILE_NAME, load_state
from ._supervisor import keep_running, supervisors_for

__all__ = [
    "FINAL_WRITE_GRACE_SECS",
    "NodeHandle",
    "open_http_client",
    "serve_node",
]

FINAL_WRITE_GRACE_SECS = 3.0


@attrs.frozen
class NodeHandle:
    """What a running node offers the rest of the process (the HTTP API)."""

    settings: Settings
    recorder: Recorder
    http_client: httpx.AsyncClient
    started_at: float


@asynccontextmanager
async def open_http_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The process's one HTTP/1.1 client (cloudflared metrics, other nodes)."""
    verify: ssl.SSLContext | bool = True
    if settings.cluster_ca_file is not None:
        verify = ssl.create_default_context(cafile=str(settings.cluster_ca_file))
    timeout = httpx.Timeout(float(settings.runtime_fanout_timeout_secs))
    # Relayed event streams hold a connection each for as long as a browser watches.
    limits = httpx.Limits(
        max_connections=settings.sse_max_streams + 64, max_keepalive_connections=32
    )
    # Proxy variables are ignored: nodes and cloudflared's metrics are reached directly.
    async with httpx.AsyncClient(
        verify=verify, timeout=timeout, limits=limits, trust_env=False
    ) as client:
        yield client


async def serve_node(
    settings: Settings,
    *,
    clock: WallClock = system_clock,
    task_status: trio.TaskStatus[NodeHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run one node until cancelled; `task_status.started` gets the `NodeHandle`.

    Raises StateStoreError when the final write of the state file fails.
    """
    path = settings.data_dir / STATE_FILE_NAME
    enabled = {component for component, own in settings.components.items() if own.enabled}
    loaded = await trio.to_thread.run_sync(
        lambda: load_state(path, node_id=settings.node_id, now=clock())
    )
    if loaded.reset_reason is not None:
        logger.warning(
            "state file %s could not be used (%s); kept aside as %s, history starts empty",
            path,
            loaded.reset_reason,
            loaded.kept_aside,
            extra={"component": "xp", "reason": loaded.reset_reason},
        )
    runtime = loaded.runtime or NodeRuntime.new(settings.node_id, enabled=enabled)
    recorder = Recorder(runtime, path=path, hub=Hub(), clock=clock)
    recorder.record_start(
        enabled=enabled, previous=loaded.previous, reset_reason=loaded.reset_reason
    )
    try:
        async with (
            open_http_client(settings) as http_client,
            open_grpc_client() as grpc_client,
            open_data_plane(settings.xray) as data_plane,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(recorder.run)
            if data_plane is not None:
                await nursery.start(keep_running, "xray data-plane probe", data_plane.run)
            clients = ProbeClients(http=http_client, grpc=grpc_client, data_plane=data_plane)
            supervisors = supervisors_for(settings.components, recorder=recorder, clients=clients)
            for supervisor in supervisors:
                await nursery.start(
                    keep_running, f"{supervisor.component} supervisor", supervisor.run
                )
            logger.info(
                "node %s serving; state file %s", settings.node_id, path, extra={"component": "xp"}
            )
            task_status.started(
                NodeHandle(
                    settings=settings,
                    recorder=recorder,
                    http_client=http_client,
                    started_at=trio.current_time(),
                )
            )
    finally:
        # The stop is recorded and written however the node ends. A write that
        # fails is raised (the process then exits non-zero: its state was not
        # saved); one that does not finish in time is logged and left behind.
        with trio.CancelScope(shield=True) as final:
            final.deadline = trio.current_time() + FINAL_WRITE_GRACE_SECS
            recorder.record_stop()
            await recorder.write_now()
        if final.cancelled_caught:
            logger.error("final state write did not finish in %gs", FINAL_WRITE_GRACE_SECS)
