"""The web UI's built files as the agent serves them: no token, relative URLs, caching."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest
import trio

from tests.agents import Cluster, admin_client, make_cluster, start_agent
from xpagent.api import STATIC_DIR

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    # Nothing listens on the xray address: the UI does not care.
    return make_cluster(tmp_path, ["a"], xray_addr="127.0.0.1:9")


def asset_urls(index_html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', index_html)


def test_the_build_is_in_the_package_and_names_its_files_relatively() -> None:
    """index.html loads only `./assets/…` (or other relative) URLs, so the same files
    work at `/` and under a reverse proxy's sub-path."""
    index = (STATIC_DIR / "index.html").read_text()
    urls = asset_urls(index)
    assert any(url.endswith(".js") for url in urls)
    for url in urls:
        assert not url.startswith(("/", "http:", "https:")), url
        if url.startswith("./assets/"):
            assert (STATIC_DIR / url.removeprefix("./")).is_file(), url


async def test_the_ui_needs_no_token_but_the_api_still_does(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """`/` answers without a token (the page asks for one), `/api/admin/*` does not."""
    await start_agent(nursery, cluster.settings("a"))
    async with httpx.AsyncClient(base_url=cluster.url("a")) as client:
        page = await client.get("/")
        api = await client.get("/api/admin/nodes")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == (STATIC_DIR / "index.html").read_text()
    assert api.status_code == 401


async def test_hashed_assets_are_immutable_and_index_is_revalidated(
    nursery: trio.Nursery, cluster: Cluster
) -> None:
    """Files under `assets/` are cached for a year; `index.html` is `no-cache` with an
    ETag, so a new agent version shows on the next reload; both carry a strict CSP."""
    await start_agent(nursery, cluster.settings("a"))
    index = (STATIC_DIR / "index.html").read_text()
    script = next(url for url in asset_urls(index) if url.endswith(".js"))
    async with admin_client(cluster.url("a")) as client:
        page = await client.get("/")
        again = await client.get("/", headers={"If-None-Match": page.headers["etag"]})
        asset = await client.get(script.removeprefix("."))
    assert page.headers["cache-control"] == "no-cache"
    assert again.status_code == 304
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in asset.headers["content-type"]
    for answer in (page, asset):
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    ["/assets/missing.js", "/assets/../../__init__.py", "/assets/%2e%2e/_web.py", "/nope"],
)
async def test_anything_else_is_the_contracts_404(
    nursery: trio.Nursery, cluster: Cluster, path: str
) -> None:
    """Unknown files and paths that climb out of the build are 404 in the contract's
    JSON error shape, never a file of the package."""
    await start_agent(nursery, cluster.settings("a"))
    async with httpx.AsyncClient(base_url=cluster.url("a")) as client:
        answer = await client.get(path)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.slow
def test_a_wheel_carries_the_built_ui(tmp_path: Path) -> None:
    """`pip install` of a wheel serves the UI with no Node: the build is package data."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), ROOT],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("xpagent-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    built = {
        "xpagent/api/static/" + path.relative_to(STATIC_DIR).as_posix()
        for path in STATIC_DIR.rglob("*")
        if path.is_file()
    }
    assert "xpagent/api/static/index.html" in built
    assert built <= names
