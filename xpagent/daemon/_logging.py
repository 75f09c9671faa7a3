"""Log records as one line each on stderr, as text or JSON.

Records may carry `component`, `status` and `reason` (pass them in `extra`); both
formats show them. Secrets never reach a record: nothing here formats settings.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from xpagent.core import format_time

from ._settings import LogFormat

__all__ = ["FIELDS", "configure_logging", "logger"]

FIELDS = ("component", "status", "reason")
logger = logging.getLogger("xpagent")


def _timestamp(record: logging.LogRecord) -> str:
    return format_time(datetime.fromtimestamp(record.created, UTC))


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


class TextFormatter(logging.Formatter):
    """`2026-11-28T10:30:00.123Z WARNING xray status changed: ... component=xray`"""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, record.getMessage()]
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                parts.append(f"{field}={json.dumps(str(value))}")
        if record.exc_info:
            parts.append(f"exception={json.dumps(self.formatException(record.exc_info))}")
        return _one_line(" ".join(parts))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message and the known fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                document[field] = str(value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def configure_logging(level: str, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Send the `xpagent` loggers to `stream` (stderr) at `level` in `log_format`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
