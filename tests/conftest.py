"""Fixtures shared by the test modules, and the Hypothesis profiles.

`XP_HYPOTHESIS_PROFILE=fast` (as `make test-fast` sets it) runs each property with
fewer examples; unset, Hypothesis runs its defaults (`make test`). Properties that
ask for more examples than the default on purpose are marked `slow`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("fast", max_examples=20)
settings.load_profile(os.environ.get("XP_HYPOTHESIS_PROFILE", "default"))

FAKES_DIR = Path(__file__).with_name("fakes")
#: System programs the fakes (and `sh -c` snippets in tests) call.
_FAKE_TOOLS = ("sh", "sleep", "tr", "dirname")


class FakePrograms:
    """The fake programs of `tests/fakes/`, alone on PATH with the few tools they need.

    Each call of a fake is logged as one line `NAME ARG...`; `behave` sets what a
    fake does (see `tests/fakes/_fake.sh`), `remove` takes one off PATH.
    """

    def __init__(self, bin_dir: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bin_dir = bin_dir
        self.log = log
        self._monkeypatch = monkeypatch

    def behave(
        self,
        program: str,
        *,
        exit_status: int | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
        hang: Path | None = None,
    ) -> None:
        prefix = "FAKE_" + program.upper().replace("-", "_")
        behaviour = {"EXIT": exit_status, "STDOUT": stdout, "STDERR": stderr, "HANG": hang}
        for name, value in behaviour.items():
            if value is not None:
                self._monkeypatch.setenv(f"{prefix}_{name}", str(value))

    def remove(self, program: str) -> None:
        (self.bin_dir / program).unlink()

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def fake_programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePrograms:
    """PATH holds only the fakes and the tools they use, so no real systemctl, doas or
    sudo can ever run, and a fake can be made missing."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    for fake in FAKES_DIR.iterdir():
        (bin_dir / fake.name).symlink_to(fake)
    for tool in _FAKE_TOOLS:
        found = shutil.which(tool)
        assert found is not None, f"{tool} is needed by the fake programs"
        (bin_dir / tool).symlink_to(found)
    for name in os.environ:
        if name.startswith("FAKE_"):
            monkeypatch.delenv(name)
    log = tmp_path / "fake-calls.log"
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_LOG", str(log))
    return FakePrograms(bin_dir, log, monkeypatch)
