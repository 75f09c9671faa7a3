"""What the web UI costs a browser: bytes shipped, and drawing the pages at fleet size.

Prints, against issue 7's targets:

- the JS and CSS the browser downloads (`xpagent/api/static/assets`), raw and gzip
  (level 6, what a reverse proxy or the agent would send): target ≤ 120 KiB of JS;
- the nodes page with `--nodes` nodes (default 500): time from navigation to every
  row drawn, in headless Chromium, median of `--runs` (target ≤ 1.0 s), and the
  longest main-thread task during one refresh of the list, with how much of it
  `JSON.parse` of the same body takes alone;
- the details page while its event stream delivers `--rate` events per second for
  `--seconds` seconds: long tasks (> 50 ms; target: none), the longest one, and how
  many timeline entries the page keeps.

The pages are the committed build, served with a mock API of the contract's
shapes (synthetic weeks from the demo's generator, one body built once), so the
figures are the UI's alone. Everything listens on 127.0.0.1; the browser is
Debian's `/usr/bin/chromium` (never a downloaded one).

    .venv/bin/python bench/web_ui.py [--nodes 500] [--runs 5] [--rate 50]
        [--seconds 10] [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import json
import mimetypes
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio
from _support import CHROMIUM, CHROMIUM_ARGS
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from playwright.sync_api import Page, sync_playwright
from ulid import ULID

from xpagent.api import STATIC_DIR
from xpagent.core import (
    SUPERVISED,
    Component,
    format_time,
    runtime_detail,
    runtime_item,
    to_json_value,
)
from xpagent.demo import synthetic_runtime

JS_TARGET_KIB = 120
RENDER_TARGET_SECS = 1.0
LONG_TASK_MS = 50
#: Distinct synthetic weeks; the nodes share them (with their own ids).
DISTINCT_HISTORIES = 20
#: Every page load collects the main thread's long tasks here.
LONG_TASK_OBSERVER = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({ type: "longtask", buffered: true });
"""


def asset_sizes() -> list[tuple[str, int, int]]:
    """`(name, bytes, gzip bytes)` of every shipped JS and CSS file."""
    rows = []
    for path in sorted((STATIC_DIR / "assets").iterdir()):
        if path.suffix in {".js", ".css"}:
            raw = path.read_bytes()
            rows.append((path.name, len(raw), len(gzip.compress(raw, compresslevel=6))))
    return rows


class MockApi:
    """The contract's admin routes over `nodes` synthetic nodes, and the built UI."""

    def __init__(self, nodes: int, *, rate: float, seconds: float) -> None:
        now = datetime.now(UTC)
        self.rate, self.seconds = rate, seconds
        weeks = [
            synthetic_runtime(
                f"node-{index:04d}",
                enabled=SUPERVISED if index % 2 == 0 else (Component.XRAY,),
                now=now,
                seed=str(index),
            )
            for index in range(min(nodes, DISTINCT_HISTORIES))
        ]
        items: list[dict[str, Any]] = []
        metadata: list[dict[str, Any]] = []
        for index in range(nodes):
            node_id = f"node-{index:04d}"
            week = weeks[index % len(weeks)]
            item = to_json_value(runtime_item(week, f"edge {index}", now))
            item["node_id"] = node_id
            items.append(item)
            metadata.append(
                {
                    "node_id": node_id,
                    "node_name": f"edge {index}",
                    "api_base_url": f"http://127.0.0.1:{20000 + index}",
                    "access_host": None,
                }
            )
        unreachable = [item["node_id"] for item in items[3 : 3 + max(1, nodes // 100)]]
        for item in items:
            if item["node_id"] in unreachable:
                item["summary"] = "unknown"
                item["error"] = "timed out after 5s"
        self.list_body = json.dumps(
            {"partial": True, "unreachable_nodes": unreachable, "items": items}
        ).encode()
        self.nodes_body = json.dumps({"items": metadata}).encode()
        self.detail = to_json_value(runtime_detail(weeks[0], "edge 0", now, events_limit=200))
        self.detail_body = json.dumps(self.detail).encode()

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert scope["type"] == "http"
        path = scope["path"]
        if path == "/api/admin/nodes/runtime":
            await self._send(send, self.list_body, "application/json")
        elif path == "/api/admin/nodes":
            await self._send(send, self.nodes_body, "application/json")
        elif path.endswith("/runtime/events"):
            await self._stream(send)
        elif path.endswith("/runtime"):
            await self._send(send, self.detail_body, "application/json")
        else:
            name = "index.html" if path == "/" else path.lstrip("/")
            file = (STATIC_DIR / name).resolve()
            if STATIC_DIR.resolve() not in file.parents or not file.is_file():
                await self._send(send, b"not found", "text/plain", status=404)
                return
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            await self._send(send, file.read_bytes(), kind)

    @staticmethod
    async def _send(send: ASGISendCallable, body: bytes, kind: str, status: int = 200) -> None:
        headers = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _stream(self, send: ASGISendCallable) -> None:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def frame(name: str, data: object, event_id: str | None = None) -> None:
            text = f"event: {name}\n" + (f"id: {event_id}\n" if event_id else "")
            text += f"data: {json.dumps(data)}\n\n"
            await body(text.encode())

        async def body(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        node_id = self.detail["node_id"]
        await frame("hello", {"node_id": node_id, "connected_at": format_time(datetime.now(UTC))})
        await frame("snapshot", self.detail)
        statuses = ("up", "down")
        for index in range(int(self.rate * self.seconds)):
            now = datetime.now(UTC)
            event_id = str(ULID.from_datetime(now))
            status_from, status_to = statuses[index % 2], statuses[(index + 1) % 2]
            event = {
                "event_id": event_id,
                "occurred_at": format_time(now),
                "component": "xray",
                "kind": "status_changed",
                "level": "warning" if status_to == "down" else "info",
                "message": f"xray status changed: {status_from} -> {status_to} (bench)",
                "status_from": status_from,
                "status_to": status_to,
            }
            await frame("event", event, event_id)
            await trio.sleep(1 / self.rate)
        while True:
            await body(b": keepalive\n\n")
            await trio.sleep(15)


@contextmanager
def serving(app: MockApi) -> Iterator[str]:
    """`app` on a loopback port, on a trio loop of its own thread; yields its URL."""
    started: list[tuple[str, trio.lowlevel.TrioToken, trio.CancelScope]] = []
    ready = threading.Event()

    async def main() -> None:
        config = hypercorn.config.Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.errorlog = None
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(hypercorn.trio.serve, app, config)
            started.append((binds[0], trio.lowlevel.current_trio_token(), nursery.cancel_scope))
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the mock API did not start")
    url, token, scope = started[0]
    try:
        yield url
    finally:
        trio.from_thread.run_sync(scope.cancel, trio_token=token)
        thread.join(10)


def long_tasks(page: Page) -> list[float]:
    return [float(value) for value in page.evaluate("window.__longTasks")]


def nodes_page(page: Page, url: str, nodes: int) -> float:
    """Seconds from navigation start to every row drawn."""
    page.goto(url + "/")
    page.wait_for_function(
        f"document.querySelectorAll('[data-testid=\"node-row\"]').length === {nodes}",
        timeout=60_000,
        polling="raf",
    )
    return float(page.evaluate("performance.now()")) / 1000


def refresh_cost(page: Page, url: str) -> tuple[float, float]:
    """The longest task (ms) while the list refreshes, and JSON.parse of the body (ms)."""
    page.evaluate("window.__longTasks = []")
    with page.expect_response(lambda response: response.url.endswith("/nodes/runtime")):
        page.get_by_role("button", name="Refresh").click()
    page.wait_for_timeout(1500)  # the new rows are drawn after the answer arrives
    longest = max(long_tasks(page), default=0.0)
    parse_ms = float(
        page.evaluate(
            """async (url) => {
                const text = await (await fetch(url)).text();
                const start = performance.now();
                JSON.parse(text);
                return performance.now() - start;
            }""",
            url + "/api/admin/nodes/runtime",
        )
    )
    return longest, parse_ms


def details_under_load(page: Page, url: str, seconds: float) -> tuple[list[float], int]:
    page.goto(url + "/#/nodes/node-0000")
    page.get_by_test_id("live-pill").wait_for()
    page.evaluate("window.__longTasks = []")
    page.wait_for_timeout(seconds * 1000 + 1000)
    return long_tasks(page), page.get_by_test_id("timeline-item").count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="100 nodes, 2 runs, 3 s of events")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.runs, args.seconds = 100, 2, 3.0

    print("Shipped assets (gzip level 6):")
    sizes = asset_sizes()
    for name, raw, packed in sizes:
        print(f"  {name:<36} {raw / 1024:8.1f} KiB  gzip {packed / 1024:7.1f} KiB")
    js = sum(packed for name, _, packed in sizes if name.endswith(".js")) / 1024
    css = sum(packed for name, _, packed in sizes if name.endswith(".css")) / 1024
    verdict = "OK" if js <= JS_TARGET_KIB else "MISSED"
    print(f"  JS gzip {js:.1f} KiB (target ≤ {JS_TARGET_KIB} KiB: {verdict}); CSS {css:.1f} KiB")

    app = MockApi(args.nodes, rate=args.rate, seconds=args.seconds)
    print(f"\nList body: {len(app.list_body) / 1e6:.1f} MB for {args.nodes} nodes")
    with serving(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        renders, refreshes = [], []
        for _ in range(args.runs):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(LONG_TASK_OBSERVER)
            page = context.new_page()
            renders.append(nodes_page(page, url, args.nodes))
            refreshes.append(refresh_cost(page, url))
            context.close()
        render = statistics.median(renders)
        verdict = "OK" if render <= RENDER_TARGET_SECS else "MISSED"
        print(
            f"Nodes page, {args.nodes} nodes: first full render median {render:.2f} s "
            f"(runs: {', '.join(f'{r:.2f}' for r in renders)}; target ≤ "
            f"{RENDER_TARGET_SECS} s: {verdict})"
        )
        longest = statistics.median(r[0] for r in refreshes)
        parse = statistics.median(r[1] for r in refreshes)
        print(
            f"  refresh: longest task median {longest:.0f} ms, of which JSON.parse of the "
            f"body alone is {parse:.0f} ms"
        )

        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_init_script(LONG_TASK_OBSERVER)
        tasks, kept = details_under_load(context.new_page(), url, args.seconds)
        context.close()
        browser.close()
    # The browser reports only tasks longer than 50 ms ("long tasks").
    over = [t for t in tasks if t > LONG_TASK_MS]
    verdict = "OK" if not over else "MISSED"
    worst = f"longest {max(over):.0f} ms" if over else "none reported"
    print(
        f"Details page, {args.rate:g} events/s for {args.seconds:g} s: "
        f"{len(over)} long tasks > {LONG_TASK_MS} ms (target none: {verdict}; {worst}); "
        f"the timeline keeps {kept} entries"
    )


if __name__ == "__main__":
    main()
