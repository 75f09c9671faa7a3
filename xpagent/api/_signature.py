"""The internal signature between nodes (CONTRACT §4).

A request from one node to another's `/api/admin/_internal/*` carries

    X-XP-Internal-Signature: v1:{ts}:{sig}

where `ts` is Unix seconds and `sig` is the base64url (no padding) HMAC-SHA256 of
`METHOD + "\\n" + PATH_AND_QUERY + "\\n" + ts` under the cluster secret. The
method is upper-cased; `PATH_AND_QUERY` is the request target exactly as sent
(path, then `?` and the raw query when there is one), so the receiver must check
the raw target it received, not a decoded or re-encoded one.

Binding the timestamp is what makes a captured header expire: it is refused once
it is more than `MAX_SKEW_SECS` away from the receiver's clock (either way, since
clocks of two hosts drift both ways).

Exceptions: `SignatureError` (`reason` says why; `str(exc) == reason`) is the only
thing `verify` raises.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from ._exceptions import SignatureError

__all__ = ["MAX_SKEW_SECS", "SIGNATURE_HEADER", "SignatureError", "sign", "verify"]

SIGNATURE_HEADER = "X-XP-Internal-Signature"
MAX_SKEW_SECS = 60

_VERSION = "v1"
# 32 bytes of HMAC-SHA256 are 43 base64url characters without padding. A canonical
# decimal timestamp only, so one signature has exactly one spelling.
_HEADER = re.compile(r"v1:(0|[1-9][0-9]{0,18}):([A-Za-z0-9_-]{43})", re.ASCII)


def _tag(key: bytes, method: str, path_and_query: str, ts: str) -> str:
    message = f"{method.upper()}\n{path_and_query}\n{ts}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(key: bytes, method: str, path_and_query: str, ts: int) -> str:
    """The `X-XP-Internal-Signature` value for a request sent at Unix time `ts`."""
    return f"{_VERSION}:{ts}:{_tag(key, method, path_and_query, str(ts))}"


def verify(
    key: bytes | None, header: str | None, method: str, path_and_query: str, *, now_ts: int
) -> None:
    """Check a received signature header; raises `SignatureError` unless it is valid
    for this method and request target and was made within `MAX_SKEW_SECS` of
    `now_ts` (this node's Unix time)."""
    if not key:
        raise SignatureError("this node has no cluster secret")
    if header is None:
        raise SignatureError("missing signature header")
    # HTTP servers strip optional whitespace around values; be as lenient here.
    match = _HEADER.fullmatch(header.strip(" \t"))
    if match is None:
        raise SignatureError("malformed signature header")
    ts_text, received = match.groups()
    expected = _tag(key, method, path_and_query, ts_text)
    if not hmac.compare_digest(expected, received):
        raise SignatureError("signature does not match")
    # Authenticity first, so a skew message is only ever about a genuine signature
    # (and then it points at a clock to fix, not at a key).
    skew = abs(int(ts_text) - now_ts)
    if skew > MAX_SKEW_SECS:
        raise SignatureError(
            f"signature timestamp {skew}s away from this node's clock (limit {MAX_SKEW_SECS}s)"
        )
