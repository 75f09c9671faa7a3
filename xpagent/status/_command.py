"""`xpagent status`: ask an agent for the cluster's runtime and show it.

It asks `GET {url}/api/admin/nodes/runtime` with the admin token, once or every
`--watch` seconds, and prints the table (or `--json`). Without flags it asks the
agent of this node: the URL comes from `XP_BIND`, the token from
`XP_ADMIN_TOKEN`, as `xpagent run` reads them.

Exit status: 0 every node is up; 1 a node is degraded, down, unknown or
unreachable; 2 a usage error; 3 the agent cannot be reached, refuses the token
or does not answer with a runtime list (one line on stderr says which).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import urlsplit

import httpx

from xpagent.core import CodecError, RuntimeList, from_json_value
from xpagent.daemon import describe_transport_error

from ._view import document, exit_status, table

__all__ = [
    "EXIT_ALL_UP",
    "EXIT_NOT_ALL_UP",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "StatusError",
    "add_status_arguments",
    "fetch_runtime",
    "run_status",
    "url_from_bind",
]

EXIT_ALL_UP = 0
EXIT_NOT_ALL_UP = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

_PROG = "xpagent status"
_DEFAULT_BIND = "127.0.0.1:62416"
_DEFAULT_FANOUT_SECS = 5
_MAX_WATCH_SECS = 3600
_RUNTIME_PATH = "/api/admin/nodes/runtime"
_CLEAR_SCREEN = "\x1b[H\x1b[2J"


class StatusError(Exception):
    """The agent could not be asked, or refused; `str()` is one line saying which."""


class _UsageError(Exception):
    pass


def _watch_secs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not 1 <= value <= _MAX_WATCH_SECS:
        raise argparse.ArgumentTypeError(f"{value} is out of range 1..={_MAX_WATCH_SECS}")
    return value


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="the agent to ask, e.g. http://10.0.0.5:62416 (default: http:// and XP_BIND, "
        "with 0.0.0.0 or [::] read as loopback)",
    )
    parser.add_argument(
        "--token",
        help="the admin token (default: XP_ADMIN_TOKEN; prefer it, a flag shows in the "
        "process list)",
    )
    parser.add_argument(
        "--watch",
        type=_watch_secs,
        metavar="SECS",
        help="ask again every SECS seconds until interrupted",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")


def url_from_bind(bind: str) -> str:
    """The URL of an agent listening on `bind` (`host:port`), as seen from this host."""
    if bind.startswith("["):
        host, sep, port = bind[1:].partition("]:")
        if not sep:
            raise ValueError("not [IPv6]:port")
        host = "::1" if host == "::" else host
        host = f"[{host}]"
    else:
        host, sep, port = bind.rpartition(":")
        if not sep or not host or ":" in host:
            raise ValueError("not host:port")
        host = "127.0.0.1" if host == "0.0.0.0" else host
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("no usable port")
    return f"http://{host}:{int(port)}"


def _base_url(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    if args.url is not None:
        given: str = args.url
        try:
            parts = urlsplit(given)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            ok = False
        if not ok:
            raise _UsageError(
                f"--url {given!r} is not an http(s) URL such as http://127.0.0.1:62416"
            )
        return given.rstrip("/")
    bind = env.get("XP_BIND") or _DEFAULT_BIND
    try:
        return url_from_bind(bind)
    except ValueError as exc:
        raise _UsageError(f"XP_BIND={bind} is {exc}; pass --url") from None


def _timeout(env: Mapping[str, str]) -> httpx.Timeout:
    # The agent answers within its fan-out deadline plus a small margin (CONTRACT §3).
    raw = env.get("XP_RUNTIME_FANOUT_TIMEOUT_SECS", "")
    fanout = int(raw) if raw.isdigit() and 1 <= int(raw) <= 60 else _DEFAULT_FANOUT_SECS
    return httpx.Timeout(5.0, read=fanout + 5.0)


def _error_message(answer: httpx.Response) -> str:
    message: object
    try:
        message = answer.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = None
    return message if isinstance(message, str) and message else answer.reason_phrase


def fetch_runtime(client: httpx.Client, url: str, *, token: str) -> RuntimeList:
    """The agent's `GET /api/admin/nodes/runtime`; raises StatusError saying why not."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = client.get(url + _RUNTIME_PATH, headers=headers)
    except httpx.HTTPError as exc:
        raise StatusError(
            f"cannot reach the agent at {url}: {describe_transport_error(exc)}"
        ) from None
    if answer.status_code in (401, 403):
        if token:
            problem = f"refused the admin token (HTTP {answer.status_code})"
            hint = "check --token or XP_ADMIN_TOKEN"
        else:
            problem = f"needs an admin token (HTTP {answer.status_code})"
            hint = "pass --token or set XP_ADMIN_TOKEN"
        raise StatusError(f"the agent at {url} {problem}: {hint}")
    if answer.status_code != 200:
        raise StatusError(
            f"the agent at {url} answered HTTP {answer.status_code}: {_error_message(answer)}"
        )
    try:
        return from_json_value(answer.json(), RuntimeList)
    except (ValueError, CodecError) as exc:
        raise StatusError(
            f"the agent at {url} did not answer with a runtime list ({exc})"
        ) from None


def _wants_colour(stream: TextIO, env: Mapping[str, str]) -> bool:
    """Colour only on a terminal, never with NO_COLOR (https://no-color.org) or TERM=dumb."""
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


def _can_draw(stream: TextIO) -> bool:
    """Whether `stream` can take the strip's block glyphs (a C locale cannot)."""
    encoding = getattr(stream, "encoding", None)
    if encoding is None:  # an in-memory text stream takes anything
        return True
    try:
        "█▄▁·".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def run_status(
    args: argparse.Namespace,
    env: Mapping[str, str],
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Run `xpagent status` for the parsed `args`; returns the exit status."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        url = _base_url(args, env)
    except _UsageError as exc:
        print(f"{_PROG}: {exc}", file=stderr)
        return EXIT_USAGE
    token = args.token if args.token is not None else env.get("XP_ADMIN_TOKEN", "")
    terminal = _wants_colour(stdout, env)
    unicode = _can_draw(stdout)
    status = EXIT_UNREACHABLE

    def show_once() -> int:
        try:
            runtime = fetch_runtime(client, url, token=token)
        except StatusError as exc:
            if args.watch and terminal:
                stdout.write(_CLEAR_SCREEN)
            print(f"{_PROG}: {exc}", file=stderr)
            return EXIT_UNREACHABLE
        now = clock()
        if args.json:
            body = document(runtime, url=url, now=now)
            stdout.write(json.dumps(body, indent=None if args.watch else 2) + "\n")
        else:
            text = table(runtime, url=url, now=now, colour=terminal, unicode=unicode)
            if args.watch:
                stdout.write(_CLEAR_SCREEN if terminal else "\n")
            stdout.write(text)
        stdout.flush()
        return exit_status(runtime)

    # Proxy variables are ignored: the agent is asked directly, as nodes ask each other.
    with httpx.Client(timeout=_timeout(env), trust_env=False) as client:
        try:
            status = show_once()
            while args.watch:
                sleep(args.watch)
                status = show_once()
        except KeyboardInterrupt:
            pass
    return status
