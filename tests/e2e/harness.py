"""What the browser tests run against: a real three-node cluster and a reverse proxy.

Playwright's sync API drives the browser from the test's own thread, so the
cluster lives in a trio loop on a thread of its own (`TrioThread`): three real
agents (the real nursery tree, hypercorn on loopback ports, signed fan-out and
relayed event streams between them), each watching its own grpcio stand-in for
xray, which the test stops and starts to cause faults. `proxy_app` is a small
reverse proxy that serves node-a under `/xp/`, as an operator's nginx would.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
import httpx
import trio
import trio.lowlevel

from tests.agents import (
    TOKEN,
    Cluster,
    RunningAgent,
    admin_client,
    make_cluster,
    start_agent,
)
from tests.grpc_xray import FakeXrayApi
from tests.servers import serve_asgi
from xpagent.core import SUPERVISED, Component
from xpagent.demo import write_synthetic_state

T = TypeVar("T")

NODE_IDS = ("node-a", "node-b", "node-c")
#: Display names, as an operator would give them (and the screenshots show).
NODE_NAMES = {"node-a": "Tokyo edge", "node-b": "Frankfurt edge", "node-c": "Virginia edge"}
#: node-c also runs a tunnel (probed by a command that always succeeds).
TUNNEL_NODE = "node-c"
#: How long any wait on the cluster may take before the test fails.
WAIT_SECS = 15.0


class TrioThread:
    """A trio loop on its own thread, with a nursery the test's thread can start tasks in."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="e2e-trio", daemon=True)
        self._thread.start()
        if not self._ready.wait(WAIT_SECS) or self._token is None:
            raise RuntimeError(f"the trio thread did not start: {self._failure!r}")

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # reported to the test thread by `close`
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        async with trio.open_nursery() as nursery:
            self._token = trio.lowlevel.current_trio_token()
            self._nursery = nursery
            self._ready.set()
            await trio.sleep_forever()

    @property
    def nursery(self) -> trio.Nursery:
        assert self._nursery is not None
        return self._nursery

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `await fn(*args)` on the loop and return what it returns."""
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def start(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """`nursery.start(fn, *args)` in the loop's nursery; what the task started with."""
        return self.run(self.nursery.start, functools.partial(fn, *args))

    def close(self) -> None:
        if self._nursery is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._nursery.cancel_scope.cancel, trio_token=self._token)
        self._thread.join(WAIT_SECS)
        if self._failure is not None and not isinstance(self._failure, trio.Cancelled):
            raise RuntimeError("the cluster's trio loop failed") from self._failure


@attrs.define
class UiCluster:
    """The cluster under test: agents that can be stopped and started, their xray
    stand-ins, and node-a's UI directly and behind the `/xp/` proxy."""

    loop: TrioThread
    cluster: Cluster
    xrays: dict[str, FakeXrayApi]
    agents: dict[str, RunningAgent] = attrs.Factory(dict)
    proxy_url: str = ""

    @property
    def token(self) -> str:
        return TOKEN

    def ui_url(self, node_id: str = "node-a") -> str:
        return self.cluster.url(node_id) + "/"

    def node_env(self, node_id: str) -> dict[str, str]:
        env = {
            "XP_XRAY_API_ADDR": self.xrays[node_id].addr,
            "XP_XRAY_HEALTH_FAILS_BEFORE_DOWN": "1",
        }
        if node_id == TUNNEL_NODE:
            env["XP_CLOUDFLARED_MONITOR_MODE"] = "command"
            env["XP_CLOUDFLARED_PROBE_COMMAND"] = "true"
        return env

    def start_agent(self, node_id: str) -> None:
        settings = self.cluster.settings(node_id, **self.node_env(node_id))
        self.agents[node_id] = self.loop.run(start_agent, self.loop.nursery, settings)

    def wait_for_summary(self, node_id: str, summary: str) -> None:
        """Bounded poll of node-a's API until `node_id`'s summary is `summary`."""
        self.loop.run(self._wait_for_summary, node_id, summary)

    async def _wait_for_summary(self, node_id: str, summary: str) -> None:
        url = f"{self.cluster.url('node-a')}/api/admin/nodes/{node_id}/runtime?events_limit=0"
        with trio.fail_after(WAIT_SECS):
            async with admin_client(self.cluster.url("node-a")) as client:
                while True:
                    if (await client.get(url)).json().get("summary") == summary:
                        return
                    await trio.sleep(0.05)

    def stop_agent(self, node_id: str) -> None:
        """Stop the agent and wait until it is gone (its port closed, its final state
        written), so that a new agent may take its data directory."""
        agent = self.agents.pop(node_id)
        self.loop.run(self._stop, agent)

    @staticmethod
    async def _stop(agent: RunningAgent) -> None:
        with trio.fail_after(WAIT_SECS):
            await agent.stop_and_wait()


def open_ui_cluster(root: Path) -> UiCluster:
    """Start the cluster (with a synthetic week of history, so the bars have
    something to show) and the proxy; the caller closes `loop` when done."""
    xrays = {node_id: FakeXrayApi() for node_id in NODE_IDS}
    for xray in xrays.values():
        xray.start()
    cluster = make_cluster(root, NODE_IDS, xray_addr="unused")
    cluster_file = root / "cluster.toml"
    text = cluster_file.read_text()
    for node_id, name in NODE_NAMES.items():
        text = text.replace(f'node_name = "Node {node_id.upper()}"', f'node_name = "{name}"')
    cluster_file.write_text(text)
    now = datetime.now(UTC)
    for node_id in NODE_IDS:
        data_dir = root / node_id
        data_dir.mkdir()
        enabled = SUPERVISED if node_id == TUNNEL_NODE else (Component.XRAY,)
        write_synthetic_state(data_dir, node_id, enabled=enabled, now=now)
    loop = TrioThread()
    ui = UiCluster(loop, cluster, xrays)
    for node_id in NODE_IDS:
        ui.start_agent(node_id)
    ui.proxy_url = loop.start(serve_asgi, functools.partial(proxy_app, cluster.url("node-a")))
    return ui


def close_ui_cluster(ui: UiCluster) -> None:
    ui.loop.close()
    for xray in ui.xrays.values():
        xray.stop()


PREFIX = "/xp"
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"host", b"te", b"trailer"}
)


async def proxy_app(upstream: str, scope: Any, receive: Any, send: Any) -> None:
    """`location /xp/ { proxy_pass UPSTREAM/; }` as an ASGI app: strips the prefix,
    passes headers and streams the answer (event streams included) unbuffered."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path: str = scope["path"]
    if not path.startswith(PREFIX + "/"):
        status = 301 if path == PREFIX else 404
        headers = [(b"location", b"/xp/")] if status == 301 else []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    target = path[len(PREFIX) :]
    if scope["query_string"]:
        target += "?" + scope["query_string"].decode("latin-1")
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
    async with httpx.AsyncClient(base_url=upstream, timeout=None) as client:
        request = client.build_request(scope["method"], target, headers=headers)
        response = await client.send(request, stream=True)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k, v) for k, v in response.headers.raw if k.lower() not in _HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
