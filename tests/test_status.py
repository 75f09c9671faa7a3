"""`xpagent status`: the table against a real two-node cluster, its exit statuses and
messages, and the view's rules on their own.

Agents run in this process (hypercorn on loopback, tests/agents.py); the command,
which uses a blocking httpx client, runs in a worker thread, as it would run in a
terminal beside them.
"""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import trio

from tests.agents import TOKEN, Cluster, RunningAgent, admin_client, make_cluster, start_agent
from tests.grpc_xray import FakeXrayApi
from tests.servers import free_port
from xpagent.cli import build_parser
from xpagent.core import (
    Component,
    ComponentState,
    ComponentStatus,
    RuntimeItem,
    RuntimeList,
    Slot,
    Summary,
    aligned_slots,
)
from xpagent.status import STRIP_SLOTS, availability, exit_status, run_status, table

ANSI = "\x1b["
WAIT_SECS = 10.0


class Terminal(io.StringIO):
    """Captured output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


async def status(
    *argv: str, env: Mapping[str, str] | None = None, tty: bool = False
) -> tuple[int, str, str]:
    """`xpagent status ARGV` with `env`: exit status, stdout and stderr."""
    args = build_parser().parse_args(["status", *argv])
    out = Terminal() if tty else io.StringIO()
    err = io.StringIO()
    code = await trio.to_thread.run_sync(
        functools.partial(run_status, args, env or {}, stdout=out, stderr=err)
    )
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def xray() -> Iterator[FakeXrayApi]:
    api = FakeXrayApi()
    api.start()
    yield api
    api.stop()


@pytest.fixture
def cluster(tmp_path, xray: FakeXrayApi) -> Cluster:
    return make_cluster(tmp_path, ["a", "b"], xray_addr=xray.addr)


async def start_both(
    nursery: trio.Nursery, cluster: Cluster, **b_env: str
) -> dict[str, RunningAgent]:
    return {
        "a": await start_agent(nursery, cluster.settings("a")),
        "b": await start_agent(nursery, cluster.settings("b", **b_env)),
    }


async def wait_for_summaries(cluster: Cluster, expected: dict[str, str]) -> None:
    """Bounded poll until node a lists each node with its expected summary, each having
    been observed for a second at least (so that its availability is known)."""
    async with admin_client(cluster.url("a")) as client:
        with trio.fail_after(WAIT_SECS):
            while True:
                answer = await client.get("/api/admin/nodes/runtime")
                items = answer.json()["items"] if answer.status_code == 200 else []
                observed = all(item["recent_slots"][-1]["observed_secs"] > 0 for item in items)
                if observed and {item["node_id"]: item["summary"] for item in items} == expected:
                    return
                await trio.sleep(0.05)


# --- against a real cluster ---------------------------------------------------------------


@pytest.mark.slow
async def test_a_healthy_cluster_is_exit_0_with_one_row_per_node(
    nursery: trio.Nursery, cluster: Cluster
):
    """Both nodes up: exit 0, a row each with summary, availability and the strip."""
    await start_both(nursery, cluster)
    await wait_for_summaries(cluster, {"a": "up", "b": "up"})

    code, out, err = await status("--url", cluster.url("a"), "--token", TOKEN)

    assert (code, err) == (0, "")
    assert out.startswith(f"xpagent status: {cluster.url('a')} at ")
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("a ", "b "))}
    assert set(rows) == {"a", "b"}
    for node_id, row in rows.items():
        assert row.startswith(f"{node_id} (Node {node_id.upper()})")
        assert " up " in row
        assert "100.00%" in row
        assert row.rstrip().endswith("█  -")  # the slot in progress is up; no problems
    assert "2 nodes: 2 up" in out
    assert "slots: █ up  ▄ degraded  ▁ down  · unknown" in out
    assert ANSI not in out


@pytest.mark.slow
async def test_a_down_node_and_an_unreachable_one_are_exit_1(
    nursery: trio.Nursery, cluster: Cluster
):
    """A node whose xray is down is listed with what is down and why (exit 1); once it
    stops answering, it is listed as unreachable with the reason."""
    agents = await start_both(
        nursery,
        cluster,
        XP_XRAY_API_ADDR=f"127.0.0.1:{free_port()}",
        XP_XRAY_HEALTH_FAILS_BEFORE_DOWN="1",
    )
    await wait_for_summaries(cluster, {"a": "up", "b": "down"})

    code, out, _ = await status("--url", cluster.url("a"), "--token", TOKEN)

    assert code == 1
    row_b = next(line for line in out.splitlines() if line.startswith("b "))
    assert " down " in row_b
    assert "xray down since " in row_b
    assert ": connection refused" in row_b
    assert "2 nodes: 1 up, 1 down" in out

    agents["b"].stop()
    code, out, _ = await status("--url", cluster.url("a"), "--token", TOKEN)

    assert code == 1
    row_b = next(line for line in out.splitlines() if line.startswith("b "))
    assert " unreachable " in row_b
    assert "unreachable: connection refused" in row_b
    assert "2 nodes: 1 up, 1 unreachable" in out


@pytest.mark.slow
async def test_colour_only_on_a_terminal_and_never_with_no_color(
    nursery: trio.Nursery, cluster: Cluster
):
    """On a terminal the table is coloured; NO_COLOR (or a pipe) turns colour off."""
    await start_both(nursery, cluster)
    await wait_for_summaries(cluster, {"a": "up", "b": "up"})
    argv = ("--url", cluster.url("a"), "--token", TOKEN)

    _, coloured, _ = await status(*argv, tty=True)
    _, no_color, _ = await status(*argv, tty=True, env={"NO_COLOR": "1"})
    _, piped, _ = await status(*argv)

    assert f"{ANSI}32m" in coloured  # green, beside the word "up"
    assert ANSI not in no_color
    assert ANSI not in piped
    assert no_color.splitlines()[1:] == piped.splitlines()[1:]


@pytest.mark.slow
async def test_json_has_one_object_per_node(nursery: trio.Nursery, cluster: Cluster):
    """--json prints the same rows as JSON: summary, availability, problems, the last 48
    slots' summaries and the components."""
    await start_both(nursery, cluster)
    await wait_for_summaries(cluster, {"a": "up", "b": "up"})

    code, out, _ = await status("--url", cluster.url("a"), "--token", TOKEN, "--json")

    body = json.loads(out)
    assert code == body["exit_status"] == 0
    assert set(body) == {
        "url",
        "checked_at",
        "exit_status",
        "partial",
        "unreachable_nodes",
        "nodes",
    }
    assert (body["url"], body["partial"], body["unreachable_nodes"]) == (
        cluster.url("a"),
        False,
        [],
    )
    assert [node["node_id"] for node in body["nodes"]] == ["a", "b"]
    for node in body["nodes"]:
        assert set(node) == {
            "node_id",
            "node_name",
            "summary",
            "reachable",
            "error",
            "availability_7d",
            "problems",
            "components",
            "last_slots",
        }
        assert (node["summary"], node["reachable"], node["error"]) == ("up", True, None)
        assert node["availability_7d"] == 1.0
        assert node["problems"] == []
        assert len(node["last_slots"]) == STRIP_SLOTS
        assert [c["component"] for c in node["components"]] == ["xp", "xray", "cloudflared"]


@pytest.mark.slow
async def test_defaults_come_from_xp_bind_and_xp_admin_token(
    nursery: trio.Nursery, cluster: Cluster
):
    """On the node, with the agent's own environment, no flag is needed."""
    await start_both(nursery, cluster)
    await wait_for_summaries(cluster, {"a": "up", "b": "up"})
    port = cluster.ports["a"]

    code, out, err = await status(env={"XP_BIND": f"0.0.0.0:{port}", "XP_ADMIN_TOKEN": TOKEN})

    assert (code, err) == (0, "")
    assert f"xpagent status: http://127.0.0.1:{port} at " in out


async def test_a_wrong_or_missing_token_is_exit_3_with_one_line(
    nursery: trio.Nursery, cluster: Cluster
):
    """A refused token is exit 3 and one line saying so; nothing on stdout."""
    await start_both(nursery, cluster)
    url = cluster.url("a")

    wrong = await status("--url", url, "--token", "not-the-token")
    missing = await status("--url", url)

    assert wrong == (
        3,
        "",
        f"xpagent status: the agent at {url} refused the admin token (HTTP 401): "
        "check --token or XP_ADMIN_TOKEN\n",
    )
    assert missing == (
        3,
        "",
        f"xpagent status: the agent at {url} needs an admin token (HTTP 401): "
        "pass --token or set XP_ADMIN_TOKEN\n",
    )


async def test_an_agent_that_does_not_answer_is_exit_3_with_one_line():
    """Nothing listening: exit 3 and one line naming the URL and the reason."""
    url = f"http://127.0.0.1:{free_port()}"

    assert await status("--url", url, "--token", TOKEN) == (
        3,
        "",
        f"xpagent status: cannot reach the agent at {url}: connection refused\n",
    )


@pytest.mark.slow
async def test_watch_asks_again_until_interrupted(nursery: trio.Nursery, cluster: Cluster):
    """--watch prints a fresh table each period; Ctrl-C ends it with the last status."""
    await start_both(nursery, cluster)
    await wait_for_summaries(cluster, {"a": "up", "b": "up"})
    args = build_parser().parse_args(
        ["status", "--url", cluster.url("a"), "--token", TOKEN, "--watch", "2"]
    )
    slept: list[float] = []

    def sleep(secs: float) -> None:
        slept.append(secs)
        if len(slept) == 2:
            raise KeyboardInterrupt

    out = io.StringIO()
    code = await trio.to_thread.run_sync(
        functools.partial(run_status, args, {}, stdout=out, stderr=io.StringIO(), sleep=sleep)
    )

    assert code == 0
    assert slept == [2, 2]
    assert out.getvalue().count("xpagent status: ") == 2


def test_the_command_line_exits_3_when_nothing_answers():
    """`python -m xpagent status` end to end: exit 3, one line, nothing on stdout."""
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "xpagent", "status", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr == f"xpagent status: cannot reach the agent at {url}: connection refused\n"


# --- the view's rules ---------------------------------------------------------------------

NOW = datetime(2026, 11, 28, 10, 40, tzinfo=UTC)


def item(
    node_id: str,
    summary: Summary,
    *,
    error: str | None = None,
    slots: tuple[Slot, ...] = (),
    xray: ComponentState | None = None,
) -> RuntimeItem:
    return RuntimeItem(
        node_id=node_id,
        node_name=node_id,
        summary=summary,
        components=(
            ComponentState(Component.XP, ComponentStatus.UP),
            xray or ComponentState(Component.XRAY, ComponentStatus.UP),
            ComponentState(Component.CLOUDFLARED, ComponentStatus.DISABLED),
        ),
        recent_slots=aligned_slots(slots, NOW),
        error=error,
    )


@pytest.mark.parametrize(
    ("summaries", "unreachable", "expected"),
    [
        ((Summary.UP, Summary.UP), False, 0),
        ((Summary.UP, Summary.DEGRADED), False, 1),
        ((Summary.UP, Summary.DOWN), False, 1),
        ((Summary.UP, Summary.UNKNOWN), False, 1),
        ((Summary.UP, Summary.UNKNOWN), True, 1),
    ],
)
def test_exit_status_is_0_only_when_every_node_is_up(
    summaries: tuple[Summary, ...], unreachable: bool, expected: int
):
    """0 when every node answered and is up; 1 for degraded, down, unknown, unreachable."""
    items = [
        item(f"n{index}", summary, error="timed out" if unreachable and index else None)
        for index, summary in enumerate(summaries)
    ]

    assert exit_status(RuntimeList.of(items)) == expected


def test_availability_is_down_time_over_observed_time():
    """7-day availability is 1 - Σdown/Σobserved; nothing observed shows as unknown."""
    start = NOW.replace(minute=0)
    slots = (
        Slot(start - timedelta(hours=1), Summary.UP, observed_secs=1800),
        Slot(start - timedelta(minutes=30), Summary.DEGRADED, observed_secs=1800, down_secs=90),
    )

    assert availability(slots) == pytest.approx(1 - 90 / 3600)
    assert availability(()) is None
    text = table(
        RuntimeList.of([item("a", Summary.DEGRADED, slots=slots)]), url="u", now=NOW, colour=False
    )
    assert "97.50%" in text
    row = next(line for line in text.splitlines() if line.startswith("a "))
    assert "▄" in row
    assert "▁" not in row


def test_problems_say_what_is_down_since_when_and_the_restarts():
    """A down component shows since when, the probe's reason and its restart attempts."""
    xray = ComponentState(
        Component.XRAY,
        ComponentStatus.DOWN,
        down_since=NOW - timedelta(minutes=38),
        restart_attempts=3,
        last_restart_at=NOW - timedelta(minutes=5),
        last_restart_failed_at=NOW - timedelta(minutes=5),
        last_error="connection refused",
    )
    text = table(
        RuntimeList.of([item("a", Summary.DOWN, xray=xray)]), url="u", now=NOW, colour=False
    )

    assert "xray down since 10:02Z: connection refused (3 restarts, last failed 10:35Z)" in text


def test_the_strip_falls_back_to_ascii():
    """Without a terminal that can draw blocks, the strip uses ASCII glyphs."""
    runtime = RuntimeList.of([item("a", Summary.UP)])

    text = table(runtime, url="u", now=NOW, colour=False, unicode=False)

    assert "." * STRIP_SLOTS in text
    assert "slots: # up  + degraded  _ down  . unknown" in text
    assert "█" not in text


def test_an_unreachable_node_shows_its_reason():
    """An unreachable node's row gives the reason instead of its components."""
    runtime = RuntimeList.of([item("a", Summary.UP), item("b", Summary.UNKNOWN, error="HTTP 502")])

    text = table(runtime, url="u", now=NOW, colour=False)

    row = next(line for line in text.splitlines() if line.startswith("b "))
    assert row.endswith("unreachable: HTTP 502")
    assert "2 nodes: 1 up, 1 unreachable" in text


@pytest.mark.parametrize("answer", [httpx.Response(500, json={"error": {"message": "boom"}})])
def test_a_failing_agent_is_reported(answer: httpx.Response):
    """An agent answering an error status is exit 3 with its message."""
    from xpagent.status import StatusError, fetch_runtime

    client = httpx.Client(transport=httpx.MockTransport(lambda request: answer))
    with pytest.raises(StatusError, match=r"^the agent at http://x answered HTTP 500: boom$"):
        fetch_runtime(client, "http://x", token="t")
