"""What a setting's value may be: one `Kind` per syntax, with the text that help,
docs and messages show as allowed and a parser that names the reason a raw value
is refused (`Invalid`, worded to follow `NAME=value `). `_config.py` turns that
reason into its one-line `ConfigError`; the cluster file's checks reuse the same
problem functions, so a node id or a URL is judged alike wherever it is written."""

from __future__ import annotations

import enum
import ipaddress
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import attrs

T = TypeVar("T")
E = TypeVar("E", bound=enum.StrEnum)

NAME_MAX_CHARS = 64


class Invalid(Exception):
    """A kind's verdict on one raw value: the reason, worded to follow `NAME=value `."""


@attrs.frozen
class Kind(Generic[T]):
    """What a setting's value may be: `allowed` as help, docs and messages show it,
    and `parse`, which gives the value a raw string stands for or raises `Invalid`
    with the reason."""

    allowed: str
    parse: Callable[[str], T]


def integer(low: int, high: int) -> Kind[int]:
    allowed = f"{low}..={high}"

    def parse(raw: str) -> int:
        if re.fullmatch(r"[+-]?[0-9]+", raw) is None:
            raise Invalid(f"is not an integer in range {allowed}")
        # Very long digit strings are out of any range; int() would refuse them anyway.
        if len(raw) > 20 or not low <= int(raw) <= high:
            raise Invalid(f"is out of range {allowed}")
        return int(raw)

    return Kind(allowed, parse)


def choice(values: tuple[str, ...], convert: Callable[[str], T]) -> Kind[T]:
    allowed = "|".join(values)

    def parse(raw: str) -> T:
        if raw.lower() not in values:
            raise Invalid(f"is not one of {allowed}")
        return convert(raw.lower())

    return Kind(allowed, parse)


def enum_choice(enum_type: type[E]) -> Kind[E]:
    return choice(tuple(member.value for member in enum_type), enum_type)


def pattern(pattern: str, description: str) -> Kind[str]:
    def parse(raw: str) -> str:
        if re.fullmatch(pattern, raw) is None:
            raise Invalid(f"is not {description}")
        return raw

    return Kind(description, parse)


def checked(allowed: str, problem: Callable[[str], str | None]) -> Kind[str]:
    """The text itself, refused with the reason `problem` gives (None: acceptable)."""

    def parse(raw: str) -> str:
        reason = problem(raw)
        if reason is not None:
            raise Invalid(reason)
        return raw

    return Kind(allowed, parse)


@attrs.frozen
class HostPort:
    host: str  # without brackets
    port: int

    @property
    def netloc(self) -> str:
        """`host:port`, with the host in brackets when it is an IPv6 address."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _host_problem(host: str) -> str | None:
    """Why `host` (an IPv4 address or a host name, no brackets) is unusable, or None."""
    if not host:
        return "has no host"
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "has an invalid IPv4 address"
        return None
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "has an invalid host name"
    return None


def _ipv6_problem(host: str) -> str | None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return "has an invalid IPv6 address in brackets"
    return None


def address(min_port: int) -> Kind[HostPort]:
    allowed = f"host:port with an IPv4, [IPv6] or named host and port {min_port}..=65535"

    def parse(raw: str) -> HostPort:
        if raw.startswith("["):
            host, sep, port_text = raw[1:].partition("]:")
            if not sep:
                raise Invalid(f"is not [IPv6]:port (allowed: {allowed})")
            problem = _ipv6_problem(host)
        else:
            host, sep, port_text = raw.rpartition(":")
            if not sep:
                raise Invalid(f"is not host:port (allowed: {allowed})")
            if ":" in host:
                raise Invalid("has an IPv6 host without brackets; write [address]:port")
            problem = _host_problem(host)
        if problem is not None:
            raise Invalid(f"{problem} (allowed: {allowed})")
        if re.fullmatch(r"[0-9]{1,5}", port_text) is None:
            raise Invalid(f"has no valid port (allowed: {allowed})")
        port = int(port_text)
        if not min_port <= port <= 65535:
            raise Invalid(f"has port {port} out of range {min_port}..=65535")
        return HostPort(host, port)

    return Kind(allowed, parse)


def name_problem(name: str) -> str | None:
    if not 1 <= len(name) <= NAME_MAX_CHARS:
        return f"is not 1..{NAME_MAX_CHARS} characters long"
    if not name.isprintable():
        return "contains control characters"
    if name.isspace():
        return "is blank"
    return None


def _argv(raw: str) -> tuple[str, ...]:
    try:
        argv = shlex.split(raw)
    except ValueError as exc:
        raise Invalid(f"is not a valid shell-quoted command line ({exc})") from None
    if not argv:
        raise Invalid("is an empty command line")
    return tuple(argv)


def base_url_problem(raw: str) -> str | None:
    """Why `raw` is not an http(s) URL with a host and no path beyond '/', or None."""
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "is not an http(s) URL"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    host = parts.hostname or ""
    problem = _ipv6_problem(host) if ":" in host else _host_problem(host)
    if problem is not None:
        return problem
    if port is None and parts.netloc.endswith(":"):
        return "has an empty port"
    if parts.path not in ("", "/") or parts.query or parts.fragment or raw.endswith(("?", "#")):
        return "must not have a path, query or fragment"
    return None


def _base_url(raw: str) -> str:
    problem = base_url_problem(raw)
    if problem is not None:
        raise Invalid(f"{problem} (allowed: {BASE_URL.allowed})")
    return raw.removesuffix("/")


def _token_problem(raw: str) -> str | None:
    # It travels in an `Authorization` header: anything else could never match.
    if re.fullmatch(r"[!-~]+", raw) is None:
        return f"contains characters other than {TOKEN.allowed}"
    return None


# `runtime` would be shadowed by the route `/api/admin/nodes/runtime`.
_NODE_ID_PATTERN = r"(?!runtime$)[A-Za-z0-9_-]{1,64}"
NODE_ID = pattern(_NODE_ID_PATTERN, "1..64 characters of [A-Za-z0-9_-], other than 'runtime'")
NODE_ID_RE = re.compile(_NODE_ID_PATTERN)
_SERVER_ADDRESS = address(min_port=1)
#: A server's `host:port` (port 0 excluded), as a client writes it to connect.
NETLOC = Kind(_SERVER_ADDRESS.allowed, lambda raw: _SERVER_ADDRESS.parse(raw).netloc)
PATH = Kind("path", Path)
ARGV = Kind("command line, split like a shell does, run without a shell", _argv)
BASE_URL = Kind("http(s)://host[:port]", _base_url)
TOKEN = checked("visible ASCII characters, no spaces", _token_problem)
SYSTEMD_UNIT = pattern(
    r"[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]{0,254}",
    "a systemd unit name ([A-Za-z0-9:_.\\@-], not starting with '-')",
)
OPENRC_SERVICE = pattern(
    r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}",
    "an OpenRC service name ([A-Za-z0-9_.-], not starting with '-')",
)


# --- xray's data-plane probe (CONTRACT §6) ---------------------------------------


def _url_host_problem(raw: str, schemes: tuple[str, ...], named: str) -> str | None:
    """Why `raw` is not a URL of one of `schemes` (`named` so in the reason) with a
    valid host and no user name, or None."""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in schemes or not parts.netloc:
        return f"is not {named} URL"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    host = parts.hostname or ""
    return _ipv6_problem(host) if ":" in host else _host_problem(host)


def _proxy_url(raw: str) -> str:
    problem = _url_host_problem(raw, ("socks5", "http"), "a socks5:// or http://")
    if problem is None:
        parts = urlsplit(raw)
        if parts.port is None:
            problem = "has no port"
        elif parts.path not in ("", "/") or parts.query or parts.fragment:
            problem = "must not have a path, query or fragment"
    if problem is not None:
        raise Invalid(f"{problem} (allowed: {PROXY_URL.allowed})")
    return raw.removesuffix("/")


def _url(raw: str) -> str:
    problem = _url_host_problem(raw, ("http", "https"), "an http(s)")
    if problem is None and (not raw.isprintable() or any(c.isspace() for c in raw)):
        problem = "contains spaces or control characters"
    if problem is not None:
        raise Invalid(f"{problem} (allowed: {URL.allowed})")
    return raw


#: A proxy the agent sends requests through: xray's SOCKS5 or HTTP inbound.
PROXY_URL = Kind("socks5://host:port or http://host:port", _proxy_url)
#: A URL to fetch, path and query included.
URL = Kind("an http(s):// URL", _url)
BOOLEAN = choice(("true", "false"), lambda value: value == "true")
