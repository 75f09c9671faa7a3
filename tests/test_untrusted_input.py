"""Bytes from outside — the state file, the node id file, the cluster file, other nodes'
answers — are decoded in one place each, and any failure there is that place's own
error with the contract's outcome: a state file set aside, exit 2 with one line, an
unreachable node with a reason. Never a traceback."""

from __future__ import annotations

import errno
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.grpc_xray import running_xray_api
from tests.strategies import state_files
from tests.test_daemon_process import (
    NODE_ID,
    agent_env,
    kept_aside,
    read_state,
    serving_agent,
    stop_cleanly,
    write_state_bytes,
)
from xpagent.api._fanout import ClusterClient, RemoteNodeError
from xpagent.core import (
    MAX_JSON_INT,
    SUPERVISED,
    Component,
    EventKind,
    NodeRuntime,
    ProbeResult,
    RestartResult,
    RuntimeDetail,
    StateFile,
    StateFileError,
    decode_state,
    encode_state,
    restore,
    runtime_detail,
    to_json_value,
)
from xpagent.daemon import (
    STATE_FILE_NAME,
    ConfigError,
    KeepAsideError,
    StateStoreError,
    load_settings,
    load_state,
)
from xpagent.daemon._settings import ClusterNode

NOW = datetime(2026, 11, 28, 10, 30, tzinfo=UTC)
HUGE_INT = "9" * 5000
SECRET = b"0123456789abcdef0123456789abcdef-cluster-key"


def fresh_state_file(node_id: str = "node-a") -> dict[str, Any]:
    runtime = NodeRuntime.new(node_id, enabled=SUPERVISED)
    runtime = runtime.started(NOW, enabled=SUPERVISED, previous=None).runtime
    document: dict[str, Any] = json.loads(encode_state(runtime, NOW))
    return document


# --- the state file: the operator's example ------------------------------------------


def test_a_5000_digit_counter_sets_the_state_file_aside(tmp_path: Path) -> None:
    """CPython refuses a 5000-digit integer with a plain ValueError; the file is still
    only unusable: kept aside with the reason, and the agent starts empty."""
    path = tmp_path / STATE_FILE_NAME
    text = json.dumps(fresh_state_file(), separators=(",", ":"))
    content = text.replace('"consecutive_failures":0', f'"consecutive_failures":{HUGE_INT}', 1)
    assert HUGE_INT in content
    path.write_text(content)

    loaded = load_state(path, node_id="node-a", now=NOW)

    assert loaded.runtime is None
    assert loaded.reset_reason == (
        "not JSON (ValueError: Exceeds the limit (4300 digits) for integer string conversion)"
    )
    assert loaded.kept_aside == tmp_path / f"{STATE_FILE_NAME}.corrupt-20261128T103000Z"
    assert loaded.kept_aside.read_text() == content
    assert not path.exists()


@pytest.mark.slow
async def test_xpagent_run_sets_such_a_file_aside_and_runs(tmp_path: Path) -> None:
    """The operator's report: `xpagent run` with that file printed a traceback and exited
    1 (and so again under systemd's Restart=). It now starts, records `state_reset`,
    keeps the file aside and stops cleanly."""
    data_dir = tmp_path / "data"
    text = json.dumps(fresh_state_file(NODE_ID), separators=(",", ":"))
    content = text.replace('"consecutive_failures":0', f'"consecutive_failures":{HUGE_INT}', 1)
    write_state_bytes(data_dir, content.encode())
    with running_xray_api() as xray_api:
        async with serving_agent(agent_env(data_dir, xray_api.addr)) as agent:
            await stop_cleanly(agent)
    [aside] = kept_aside(data_dir)
    assert aside.read_text() == content
    state = read_state(data_dir)
    assert [e.message for e in state.events if e.kind is EventKind.STATE_RESET] == [
        "state file could not be used, history starts empty: not JSON (ValueError: Exceeds "
        "the limit (4300 digits) for integer string conversion)"
    ]


def test_an_integer_beyond_what_a_browser_reads_exactly_is_out_of_range() -> None:
    """A counter above 2**53 - 1 parses, but is refused as out of range: the web UI
    would show another number."""
    document = fresh_state_file()
    document["last_snapshot"]["components"][1]["restart_attempts"] = MAX_JSON_INT + 1
    with pytest.raises(StateFileError, match="integer out of range"):
        decode_state(json.dumps(document).encode())
    document["last_snapshot"]["components"][1]["restart_attempts"] = MAX_JSON_INT
    decode_state(json.dumps(document).encode())


def test_times_the_core_cannot_compute_with_are_refused() -> None:
    """A time near the end of `datetime`'s range would overflow a restart wait."""
    document = fresh_state_file()
    document["last_snapshot"]["components"][1]["last_restart_at"] = "9999-12-31T23:59:59Z"
    with pytest.raises(StateFileError, match=r"xray\.last_restart_at: time out of range"):
        decode_state(json.dumps(document).encode())


def test_an_unusable_file_that_cannot_be_moved_aside_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only data directory the unusable file stays where it is, untouched, and
    the error says what happened (a distinct StateStoreError for the command line)."""
    path = tmp_path / STATE_FILE_NAME
    path.write_bytes(b"{not json")

    def read_only(self: Path, target: Path) -> Path:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "rename", read_only)
    with pytest.raises(KeepAsideError) as caught:
        load_state(path, node_id="node-a", now=NOW)

    assert isinstance(caught.value, StateStoreError)
    assert str(caught.value) == (
        f"could not move the unusable state file aside: {path} (not JSON (JSONDecodeError)) "
        f"cannot be renamed to {STATE_FILE_NAME}.corrupt-20261128T103000Z "
        f"(Read-only file system)"
    )
    assert caught.value.reason == "not JSON (JSONDecodeError)"
    assert path.read_bytes() == b"{not json"


def test_a_state_file_too_large_to_be_ours_is_set_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader reads a bounded number of bytes; beyond them the file is not ours."""
    monkeypatch.setattr("xpagent.daemon._state_store.MAX_STATE_FILE_BYTES", 1000)
    path = tmp_path / STATE_FILE_NAME
    path.write_bytes(b" " * 1001)
    loaded = load_state(path, node_id="node-a", now=NOW)
    assert loaded.reset_reason == "larger than 0 MiB"
    assert loaded.kept_aside is not None


# --- the state file: any mutation of a valid file ------------------------------------

#: Stands for a raw JSON token that `json.dumps` cannot write (too long an integer,
#: NaN, nesting deeper than its recursion limit).
RAW = "\x01RAW\x01"
raw_json_tokens = st.sampled_from(
    [
        HUGE_INT,
        "-" + HUGE_INT,
        "1" + "0" * 4300,
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-0",
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "[" * 900 + "]" * 900,
    ]
)
json_values: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(2**53 - 3, 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00b",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00+01:00",
            "2026-11-28T10:00:00",
            "2026-11-28T10:17:00Z",
            "up",
            "down",
            "xp",
        ]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def paths_in(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_in(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_in(item, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], change: Callable[[Any], Any]) -> Any:
    if not path:
        return change(document)
    head, *rest = path
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[head] = replaced(document[head], tuple(rest), change)
    return copy


_DELETE = object()


def without_deleted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_deleted(v) for k, v in value.items() if v is not _DELETE}
    if isinstance(value, list):
        return [without_deleted(v) for v in value if v is not _DELETE]
    return value


@st.composite
def mutated_documents(draw: st.DrawFn, document: Any) -> bytes:
    """`document` with one value changed somewhere (a wrong type, a huge integer, NUL
    bytes, deep nesting, a deletion), then maybe broken at the byte level."""
    path = draw(st.sampled_from(paths_in(document)))
    how = draw(st.sampled_from(["value", "raw", "delete", "wrap", "keep"]))
    if how == "value":
        new = draw(json_values)
        document = replaced(document, path, lambda _: new)
    elif how == "raw":
        document = replaced(document, path, lambda _: RAW)
    elif how == "delete" and path:
        document = replaced(document, path, lambda _: _DELETE)
    elif how == "wrap":
        document = replaced(document, path, lambda old: [old])
    text = json.dumps(without_deleted(document), separators=(",", ":"))
    if RAW in text or json.dumps(RAW) in text:
        text = text.replace(json.dumps(RAW), draw(raw_json_tokens))
    data = text.encode()
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\x00", b"", b"\xff", b"}"])) + data[at:]
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


def exercise(state: StateFile) -> None:
    """What the agent does with a file it accepted: restore it, start at the file's
    own time, a clock stepped far back and one far ahead, probe, restart, encode it
    again — none of which may fail."""
    for now in (
        state.last_snapshot.checked_at,
        datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC),
        state.last_snapshot.checked_at + timedelta(days=30),
    ):
        runtime, previous = restore(state)
        runtime = runtime.started(now, enabled=SUPERVISED, previous=previous, monotonic=0.0).runtime
        later = now + timedelta(seconds=2)
        runtime = runtime.probed(
            Component.XRAY,
            ProbeResult.failure("refused"),
            later,
            fails_before_down=1,
            monotonic=2.0,
        ).runtime
        runtime = runtime.restart_requested(Component.XRAY, later, how="x", monotonic=2.0).runtime
        runtime = runtime.restart_finished(
            Component.XRAY, RestartResult.success(), later, monotonic=2.5
        ).runtime
        runtime = runtime.ticked(later + timedelta(seconds=60), monotonic=62.5)
        detail = runtime_detail(runtime, "name", later, events_limit=1000)
        json.dumps(to_json_value(detail))
        decode_state(encode_state(runtime, later), node_id=state.node_id)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutation_of_a_state_file_is_used_or_set_aside(data: st.DataObject) -> None:
    """Whatever was changed in a valid file, decoding gives a state the agent can run
    with, or a StateFileError of one line; nothing else."""
    state = data.draw(state_files)
    content = data.draw(mutated_documents(to_json_value(state)))
    try:
        decoded = decode_state(content, node_id=state.node_id)
    except StateFileError as exc:
        message = str(exc)
        assert message
        assert "\n" not in message
        return
    exercise(decoded)


# --- the cluster file ----------------------------------------------------------------


def cluster_env(root: Path, content: bytes, node_id: str) -> dict[str, str]:
    path = root / "cluster.toml"
    path.write_bytes(content)
    secret = root / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    return {
        "XP_DATA_DIR": str(root / "data"),
        "XP_CLUSTER_FILE": str(path),
        "XP_NODE_ID": node_id,
        "XP_CLUSTER_SECRET_FILE": str(secret),
    }


def test_a_5000_digit_integer_in_the_cluster_file_is_one_line_naming_it(tmp_path: Path) -> None:
    """tomllib refuses it with a plain ValueError; startup stops with exit 2's one line."""
    content = (
        '[[nodes]]\nnode_id = "node-a"\nnode_name = "a"\n'
        f'api_base_url = "http://127.0.0.1:1"\naccess_host = {HUGE_INT}\n'
    ).encode()
    env = cluster_env(tmp_path, content, "node-a")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env, host_name="test-host")
    assert str(caught.value) == (
        f"XP_CLUSTER_FILE {tmp_path}/cluster.toml: is not valid TOML "
        f"(ValueError: Exceeds the limit (4300 digits) for integer string conversion)"
    )


def test_deep_nesting_in_the_cluster_file_is_one_line_naming_it(tmp_path: Path) -> None:
    """tomllib overflows the stack on deep nesting (a RecursionError); still exit 2's line."""
    content = b'[[nodes]]\nnode_id = "node-a"\naccess_host = ' + b"[" * 5000 + b"]" * 5000
    env = cluster_env(tmp_path, content, "node-a")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env, host_name="test-host")
    assert str(caught.value).startswith(
        f"XP_CLUSTER_FILE {tmp_path}/cluster.toml: is not valid TOML (RecursionError"
    )


def toml_value(value: Any) -> str:
    """`value` written as TOML (strings as basic strings with escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, int | float):
        text = repr(value)
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(text, text)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }"
    raise TypeError(value)


raw_toml_tokens = st.sampled_from(
    [
        HUGE_INT,
        "-" + HUGE_INT,
        "[" * 3000 + "]" * 3000,
        "{ a = " * 3000 + "1" + " }" * 3000,
        "1979-05-27T07:32:00Z",
        "1979-05-27",
        "07:32:00",
        "nan",
        '"\\u0000"',
        '"line\\nbreak"',
        "'''multi\nline'''",
    ]
)
toml_values: st.SearchStrategy[Any] = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=30),
    st.lists(st.integers(0, 9), max_size=3),
    st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), st.integers(0, 9), max_size=2),
)
FIELDS = ("node_id", "node_name", "api_base_url", "access_host")


@st.composite
def cluster_files(draw: st.DrawFn) -> tuple[list[dict[str, Any]], bytes, tuple[int, str] | None]:
    """A valid cluster file mutated once: its entries, its bytes, and the entry and
    field given a non-string value, when that was the mutation."""
    ids = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True).filter(lambda i: i != "runtime"),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    entries: list[dict[str, Any]] = [
        {
            "node_id": node_id,
            "node_name": f"Node {node_id}",
            "api_base_url": f"http://{node_id}.internal:62416",
            **({"access_host": f"{node_id}.example.com"} if index % 2 else {}),
        }
        for index, node_id in enumerate(ids)
    ]
    wrong_type: tuple[int, str] | None = None
    index = draw(st.integers(0, len(entries) - 1))
    field = draw(st.sampled_from((*FIELDS, "surprise")))
    how = draw(st.sampled_from(["value", "raw", "delete", "keep"]))
    raw_token: str | None = None
    if how == "value":
        value = draw(toml_values)
        entries[index][field] = value
        if field in FIELDS and not isinstance(value, str):
            wrong_type = (index, field)
    elif how == "raw":
        raw_token = draw(raw_toml_tokens)
        entries[index][field] = RAW
    elif how == "delete":
        entries[index].pop(field, None)
    lines: list[str] = []
    if draw(st.integers(0, 9)) == 0:
        lines.append(draw(st.sampled_from(["title = 'x'", "nodes = 5", "[cluster]"])))
        wrong_type = None  # a problem of the whole file comes first
    for entry in entries:
        lines.append("[[nodes]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in entry.items()]
    text = "\n".join(lines) + "\n"
    if raw_token is not None:
        text = text.replace(json.dumps(RAW), raw_token)
    data = text.encode()
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\x00", b"\xff", b"[", b"="])) + data[at:]
        wrong_type = None
    return entries, data, wrong_type


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster=cluster_files())
def test_any_mutation_of_a_cluster_file_is_accepted_or_one_line_naming_it(
    cluster: tuple[list[dict[str, Any]], bytes, tuple[int, str] | None],
) -> None:
    """Whatever was changed in a valid cluster file, startup either accepts it or stops
    with one line naming the file (and, for a wrong type, the entry and the field)."""
    entries, content, wrong_type = cluster
    first_id = entries[0].get("node_id")
    node_id = first_id if isinstance(first_id, str) and first_id else "node-a"
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        env = cluster_env(root, content, node_id)
        try:
            load_settings({}, env, host_name="test-host")
        except ConfigError as exc:
            message = str(exc)
            assert "\n" not in message
            assert message.startswith((f"XP_CLUSTER_FILE {root}/cluster.toml: ", "XP_NODE_ID"))
            if wrong_type is not None and message.startswith("XP_CLUSTER_FILE"):
                index, field = wrong_type
                assert f"nodes[{index}]" in message, message
                assert f"{field} must be a string" in message, message


# --- the node id file ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"node\x00a\n", "holds 'node\\x00a', which is not"),
        (b"\xff\xfe", "cannot be read (not UTF-8 text)"),
        (b"a" * 5000, "is larger than 4096 bytes, which no node id needs"),
    ],
    ids=["NUL byte", "not UTF-8", "far too long"],
)
def test_a_broken_node_id_file_stops_startup_with_one_line(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    """The node id file is read, bounded, in one place; a bad one is exit 2's line."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "node_id").write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {"XP_DATA_DIR": str(data_dir)}, host_name="test-host")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"node id file {data_dir}/node_id (in XP_DATA_DIR) ")
    assert problem in message


# --- other nodes' answers ------------------------------------------------------------


def answering(body: bytes) -> ClusterClient:
    """A cluster client whose every request is answered 200 with `body`."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    client = httpx.AsyncClient(transport=transport)
    return ClusterClient(client, key=SECRET, timeout_secs=1.0, clock=lambda: NOW)


def peer_detail() -> dict[str, Any]:
    runtime = NodeRuntime.new("node-b", enabled={Component.XRAY})
    runtime = runtime.started(NOW, enabled={Component.XRAY}, previous=None).runtime
    value: dict[str, Any] = to_json_value(runtime_detail(runtime, "B", NOW, events_limit=5))
    return value


def huge_counter_answer() -> bytes:
    text = json.dumps(peer_detail(), separators=(",", ":"))
    return text.replace('"consecutive_failures":0', f'"consecutive_failures":{HUGE_INT}').encode()


def out_of_range_answer() -> bytes:
    detail = peer_detail()
    detail["components"][1]["restart_attempts"] = 2**60
    return json.dumps(detail).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (huge_counter_answer(), "invalid answer: not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid answer: not JSON"),
        (b'{"node_id": "node-b\x00', "invalid answer: not JSON"),
        (out_of_range_answer(), "invalid answer: integer out of range"),
    ],
    ids=["5000-digit integer", "deep nesting", "NUL byte", "integer beyond 2**53"],
)
async def test_an_answer_that_cannot_be_decoded_is_unreachable_with_a_reason(
    body: bytes, reason: str
) -> None:
    """Whatever the bytes of a node's answer, the node is unreachable with a reason."""
    node = ClusterNode("node-b", "B", "http://node-b.internal:62416")
    cluster = answering(body)
    [item] = await cluster.fetch_items([node])
    assert item.error is not None
    assert item.error.startswith(reason), item.error
    with pytest.raises(RemoteNodeError):
        await cluster.fetch_detail(node, events_limit=5)


async def test_a_good_answer_still_decodes() -> None:
    """The same client reads a well-formed answer (the seam above is sound)."""
    node = ClusterNode("node-b", "B", "http://node-b.internal:62416")
    detail = await answering(json.dumps(peer_detail()).encode()).fetch_detail(node, events_limit=5)
    assert isinstance(detail, RuntimeDetail)
    assert detail.node_id == "node-b"
