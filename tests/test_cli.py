"""The `xpagent` command line: usage errors per command, and `run`'s exit lines."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xpagent.cli import EXIT_STATE_NOT_SAVED, main
from xpagent.daemon import KeepAsideError, logger


def exit_status_of(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(str(exc.code))


@pytest.fixture(autouse=True)
def no_xp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("XP_"):
            monkeypatch.delenv(name)


def test_an_unknown_run_flag_shows_runs_usage(capsys: pytest.CaptureFixture[str]):
    """`xpagent run --bogus` answers with `run`'s usage, not the top-level one."""
    assert exit_status_of(["run", "--bogus"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("usage: xpagent run ")
    assert err.endswith("xpagent run: error: unrecognized arguments: --bogus\n")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["status", "--bogus"], "xpagent status: unrecognized arguments: --bogus\n"),
        (
            ["status", "--watch", "0"],
            "xpagent status: argument --watch: 0 is out of range 1..=3600\n",
        ),
        (
            ["status", "--url", "ftp://x"],
            "xpagent status: --url 'ftp://x' is not an http(s) URL such as "
            "http://127.0.0.1:62416\n",
        ),
        (
            ["ops", "render", "--init", "systemd", "--bogus"],
            "xpagent ops render: unrecognized arguments: --bogus\n",
        ),
        (
            ["ops", "render", "--out", "x"],
            "xpagent ops render: the following arguments are required: --init\n",
        ),
    ],
)
def test_status_and_ops_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], line: str
):
    """`status` and `ops render` answer a usage error with exit 2 and one line."""
    assert exit_status_of(argv) == 2
    assert capsys.readouterr().err == line


def test_status_reads_xp_bind(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Without --url, `xpagent status` asks the agent at XP_BIND; a bad one is exit 2."""
    monkeypatch.setenv("XP_BIND", "nonsense")

    assert exit_status_of(["status"]) == 2
    assert (
        capsys.readouterr().err == "xpagent status: XP_BIND=nonsense is not host:port; pass --url\n"
    )


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """`xpagent run` configures the `xpagent` logger for the process; put it back."""
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.mark.usefixtures("restored_logging")
def test_run_that_cannot_move_a_bad_state_file_aside_says_it_did_not_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """When the unusable state file cannot be kept aside, `run` exits 3 saying that it
    did not start and what to fix, not that it "stopped"."""
    state = tmp_path / "service_runtime.json"

    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise KeepAsideError(
            f"could not move the unusable state file aside: {state} cannot be renamed",
            path=state,
        )

    monkeypatch.setattr("xpagent.agent.run_until_signal", refuse)
    monkeypatch.setenv("XP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XP_NODE_ID", "node-a")

    assert main(["run"]) == EXIT_STATE_NOT_SAVED

    err = capsys.readouterr().err
    assert "not started: could not move the unusable state file aside" in err
    assert f"make {tmp_path} writable for this user" in err
    assert "stopped, but" not in err
