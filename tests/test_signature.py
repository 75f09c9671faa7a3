"""The internal signature (CONTRACT §4): what it covers, how long it lives, what it refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xpagent.api._signature import MAX_SKEW_SECS, SIGNATURE_HEADER, SignatureError, sign, verify

KEY = b"k" * 32
TS = 1_800_000_000
TARGET = "/api/admin/_internal/nodes/runtime/local?events_limit=0"


def refusal(
    header: str | None,
    *,
    key: bytes | None = KEY,
    method: str = "GET",
    target: str = TARGET,
    now_ts: int = TS,
) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(key, header, method, target, now_ts=now_ts)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


def test_header_name_and_limit_are_the_contracts():
    """The header is `X-XP-Internal-Signature` and a signature lives 60 s either way."""
    assert SIGNATURE_HEADER == "X-XP-Internal-Signature"
    assert MAX_SKEW_SECS == 60


def test_signature_is_the_documented_hmac():
    """`v1:{ts}:{sig}`, sig = unpadded base64url HMAC-SHA256 of METHOD, target and ts."""
    message = f"GET\n{TARGET}\n{TS}".encode()
    digest = hmac.new(KEY, message, hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")

    assert sign(KEY, "GET", TARGET, TS) == f"v1:{TS}:{expected}"
    assert "=" not in sign(KEY, "GET", TARGET, TS)


def test_round_trip_verifies():
    """A header made by `sign` verifies for the same request at the same time."""
    verify(KEY, sign(KEY, "GET", TARGET, TS), "GET", TARGET, now_ts=TS)


def test_method_is_compared_upper_cased():
    """Signing `get` and receiving `GET` (or the other way round) is the same request."""
    verify(KEY, sign(KEY, "get", TARGET, TS), "GET", TARGET, now_ts=TS)
    verify(KEY, sign(KEY, "GET", TARGET, TS), "get", TARGET, now_ts=TS)


@pytest.mark.parametrize(
    ("what", "changes"),
    [
        ("wrong key", {"key": b"x" * 32}),
        ("altered path", {"target": "/api/admin/_internal/nodes/runtime/localx?events_limit=0"}),
        ("altered query", {"target": "/api/admin/_internal/nodes/runtime/local?events_limit=1"}),
        ("query dropped", {"target": "/api/admin/_internal/nodes/runtime/local"}),
        ("altered method", {"method": "POST"}),
    ],
)
def test_a_different_request_or_key_does_not_match(what, changes):
    """A header made for another request, or under another key, is refused as not matching."""
    header = sign(KEY, "GET", TARGET, TS)

    assert refusal(header, **changes) == "signature does not match", what


def test_a_changed_timestamp_does_not_match():
    """The timestamp is signed: moving it in a captured header breaks the tag."""
    _, _, tag = sign(KEY, "GET", TARGET, TS).split(":")

    assert refusal(f"v1:{TS + 1}:{tag}", now_ts=TS + 1) == "signature does not match"


@pytest.mark.parametrize("offset", [-61, 61, -3600])
def test_a_signature_more_than_60s_away_is_refused(offset):
    """A replayed (61 s old) or early (61 s ahead) signature is refused, naming the skew."""
    header = sign(KEY, "GET", TARGET, TS + offset)

    assert refusal(header) == (
        f"signature timestamp {abs(offset)}s away from this node's clock (limit 60s)"
    )


@pytest.mark.parametrize("offset", [-60, 0, 60])
def test_a_signature_up_to_60s_away_is_accepted(offset):
    """Clocks of two hosts may differ by up to 60 s either way."""
    verify(KEY, sign(KEY, "GET", TARGET, TS + offset), "GET", TARGET, now_ts=TS)


def test_missing_header_is_refused():
    """No header at all says so."""
    assert refusal(None) == "missing signature header"


def test_no_cluster_secret_refuses_everything():
    """A node without a cluster secret accepts no signature, not even a well-formed one."""
    header = sign(KEY, "GET", TARGET, TS)

    assert refusal(header, key=None) == "this node has no cluster secret"
    assert refusal(header, key=b"") == "this node has no cluster secret"


def test_surrounding_whitespace_is_tolerated():
    """Optional whitespace around a header value is not part of it (RFC 9110)."""
    verify(KEY, f" {sign(KEY, 'GET', TARGET, TS)}\t", "GET", TARGET, now_ts=TS)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "v1",
        f"v1:{TS}",
        f"v2:{TS}:{'A' * 43}",
        f"V1:{TS}:{'A' * 43}",
        f"v1::{'A' * 43}",
        f"v1:-{TS}:{'A' * 43}",
        f"v1:0{TS}:{'A' * 43}",
        f"v1:{TS}.5:{'A' * 43}",
        f"v1:{'1' * 30}:{'A' * 43}",
        f"v1:{TS}:{'A' * 42}",
        f"v1:{TS}:{'A' * 44}",
        f"v1:{TS}:{'A' * 42}=",
        f"v1:{TS}:{'A' * 42}+",
        f"v1:{TS}:{'A' * 43}:extra",
        f"v1:{TS}:{'Ä' * 43}",
        f"v1:{'١' * 10}:{'A' * 43}",  # Arabic-Indic digits: int() would take them
        f"v1:{TS}:{'A' * 43}\n",
    ],
)
def test_malformed_headers_are_refused(header):
    """Anything but `v1:{decimal ts}:{43 base64url chars}` is malformed."""
    assert refusal(header) == "malformed signature header"


@given(header=st.text(max_size=120), now_ts=st.integers(min_value=-(2**63), max_value=2**63))
def test_arbitrary_headers_only_ever_raise_signature_error(header, now_ts):
    """Whatever a client sends, verify refuses it with a SignatureError and nothing else."""
    with pytest.raises(SignatureError):
        verify(KEY, header, "GET", TARGET, now_ts=now_ts)


@given(
    tag=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        min_size=43,
        max_size=43,
    ),
    ts=st.integers(min_value=0, max_value=2**40),
)
def test_well_formed_forgeries_do_not_match(tag, ts):
    """A well-formed header with a made-up tag is refused as not matching."""
    assert refusal(f"v1:{ts}:{tag}", now_ts=ts) == "signature does not match"
