"""The demo's voice: timestamped lines on stdout, one per thing that happens.

Every line reads `[HH:MM:SS] WHO       what happened`, in local time, where WHO
is `scenario` (the script causing or healing a fault), `control` (the simulated
init system answering an agent's restart command), `demo` (setting up and
stopping) or a node id (an event that node's agent recorded).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

import attrs

__all__ = ["Narrator"]

_WHO_WIDTH = 9


@attrs.define
class Narrator:
    """Prints narration lines; `clock` gives the local time stamped on each."""

    out: TextIO = attrs.field(factory=lambda: sys.stdout)
    clock: Callable[[], datetime] = datetime.now

    def say(self, who: str, text: str) -> None:
        stamp = self.clock().strftime("%H:%M:%S")
        self._emit(f"[{stamp}] {who:<{_WHO_WIDTH}} {text}\n")

    def write(self, text: str = "") -> None:
        """Plain text without a time stamp (the banner, the closing note)."""
        self._emit(text + "\n")

    def _emit(self, text: str) -> None:
        # A terminal that was closed (SIGHUP) or a pipe whose reader left must not
        # keep the demo from stopping its agents: the narration is lost, not the stop.
        with contextlib.suppress(OSError, ValueError):
            self.out.write(text)
            self.out.flush()
