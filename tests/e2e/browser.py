"""Debian's Chromium as the browser tests and `bench/web_ui.py` start it.

Never a browser that Playwright downloads: `/usr/bin/chromium` (override with
`XP_E2E_CHROMIUM`), with the flags a sandboxed machine without internet needs (no
background connections, no component updates, no sync).
"""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("XP_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
