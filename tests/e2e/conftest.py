"""Browser fixtures: Debian's Chromium driven by Playwright, never a downloaded browser.

The browser is Debian's Chromium (see `tests/e2e/browser.py`). A missing browser fails the tests
with a line saying how to install it: a browser test that silently skips would
let a broken UI pass.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.harness import UiCluster, close_ui_cluster, open_ui_cluster

#: Where screenshots go: `docs/images/` when `XP_UPDATE_SCREENSHOTS=1` (`make
#: screenshots`), otherwise a throwaway directory so a test run leaves the tree clean.
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def ui_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiCluster]:
    ui = open_ui_cluster(tmp_path_factory.mktemp("ui-cluster"))
    try:
        yield ui
    finally:
        close_ui_cluster(ui)


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("XP_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        return DOCS_IMAGES
    return tmp_path_factory.mktemp("screenshots")


class ConsoleLog:
    """Errors the page logged; a test may declare the ones it causes on purpose."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected: list[re.Pattern[str]] = []

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location.get('url')}")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")

    def expect(self, pattern: str) -> None:
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


def open_page(context: BrowserContext, console: ConsoleLog) -> Page:
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def context(browser: Browser, console: ConsoleLog) -> Iterator[BrowserContext]:
    """A fresh browser profile at desktop size; fails the test on any console error
    the test did not declare."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()
    assert console.unexpected() == [], "the page logged errors"


@pytest.fixture
def page(context: BrowserContext, console: ConsoleLog) -> Page:
    return open_page(context, console)
