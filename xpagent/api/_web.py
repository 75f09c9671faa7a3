"""The web UI's built assets, served from the package (`xpagent/api/static/`).

The assets are built from `web/` by Vite and committed, so an install needs no
Node. `index.html` names its scripts and styles by relative URLs (`./assets/…`)
and the UI routes with the URL's fragment, so the same files work at `/` and
behind a reverse proxy under a sub-path (`/xp/`) with no server help.

Caching (RFC 9111): files under `assets/` carry a content hash in their names
and never change, so they are `immutable` for a year; everything else, above all
`index.html`, is `no-cache` (revalidated with its ETag on every load), so a new
agent version is picked up on the next reload.

No authentication: the UI itself holds no data (CONTRACT §3, "the web UI's static
files need nothing"); it asks the admin API, which does.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from quart import Response, send_from_directory
from quart_trio import QuartTrio
from werkzeug.exceptions import NotFound

__all__ = ["STATIC_DIR", "register_web_ui"]

#: Where the built UI lives inside the installed package.
STATIC_DIR = Path(str(resources.files("xpagent.api") / "static"))

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

#: The UI loads only its own scripts and styles and talks only to its own origin.
#: Inline styles stay allowed: Floating UI and React position elements with them.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
UI_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # The page may carry `?token=` for a moment before it removes it: never pass
    # the address on to anyone.
    "Referrer-Policy": "no-referrer",
}


def register_web_ui(app: QuartTrio, static_dir: Path = STATIC_DIR) -> None:
    """Serve the UI at `/` (and `/index.html`), its hashed files at `/assets/*` and
    the few unhashed files Vite copies next to `index.html` (such as the icon).

    Paths outside `static_dir` are refused by Quart's `safe_join` (404).
    """

    async def send(name: str, cache_control: str) -> Response:
        try:
            response = await send_from_directory(static_dir, name)
        except (NotFound, IsADirectoryError):
            raise NotFound(f"no such file in the web UI: {name}") from None
        response.headers["Cache-Control"] = cache_control
        response.headers.update(UI_HEADERS)
        return response

    @app.get("/")
    @app.get("/index.html")
    async def index() -> Response:
        if not (static_dir / "index.html").is_file():
            raise NotFound("the web UI is not built: run `make web-build` in a source checkout")
        return await send("index.html", REVALIDATE)

    @app.get("/assets/<path:name>")
    async def asset(name: str) -> Response:
        return await send(f"assets/{name}", IMMUTABLE)

    @app.get("/<name>")
    async def top_level_file(name: str) -> Response:
        # Only real files next to index.html (`favicon.svg`); `api` and anything
        # else that is not a file there is a 404 in the contract's shape.
        return await send(name, REVALIDATE)
