"""The settings reference cannot drift from the code's settings table.

`docs/configuration.md`'s tables, the env template `packaging/xpagent.env` and the
examples in `packaging/` are generated from `SETTINGS`; each test fails when a file
differs from what the table gives. Fix: `python -m xpagent.ops.docs`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from xpagent.daemon import SETTINGS
from xpagent.ops import env_file, settings_groups, settings_tables
from xpagent.ops.docs import BEGIN_MARKER, END_MARKER, generated_files, repository_root

ROOT = repository_root()
REGENERATE = "stale: run `python -m xpagent.ops.docs` to regenerate it"


@pytest.mark.parametrize("path", sorted(generated_files(ROOT)))
def test_generated_file_is_current(path: str):
    """Each generated file holds exactly what the settings table gives."""
    expected = generated_files(ROOT)[path]
    actual = (ROOT / path).read_text(encoding="utf-8") if (ROOT / path).is_file() else None
    assert actual == expected, f"{path} is {REGENERATE}"


def test_env_template_lists_every_setting_with_default_and_range():
    """The env template names every XP_* setting, its default and its allowed values,
    commented out so that the defaults apply."""
    template = (ROOT / "packaging/xpagent.env").read_text(encoding="utf-8")
    assert template == env_file()
    for setting in SETTINGS:
        assert f"\n#{setting.name}=" in template
        entry = template.split(f"# {setting.name}: ", 1)[1].split(f"\n#{setting.name}=", 1)[0]
        flat = " ".join(line.lstrip("# ") for line in entry.splitlines())
        assert f"default: {setting.default_text}" in flat
        assert f"allowed: {setting.allowed}" in flat
    assert not re.search(r"^XP_", template, re.MULTILINE), "nothing is set in the template"


def test_configuration_doc_lists_every_setting_once():
    """docs/configuration.md's generated tables have one row per setting, grouped."""
    document = (ROOT / "docs/configuration.md").read_text(encoding="utf-8")
    region = document.split(BEGIN_MARKER, 1)[1].split(END_MARKER, 1)[0]
    assert region.strip() == settings_tables().strip()
    rows = re.findall(r"^\| `(XP_[A-Z_0-9]+)` \| `(--[a-z-0-9]+)` \|", region, re.MULTILINE)
    grouped = [setting for group in settings_groups() for setting in group.settings]
    assert rows == [(setting.name, setting.flag) for setting in grouped]
    assert sorted(name for name, _ in rows) == sorted(setting.name for setting in SETTINGS)


def test_the_env_template_reads_back_as_no_setting(tmp_path: Path):
    """Sourced by sh, as the OpenRC script does, the template sets no XP_* variable."""
    template = tmp_path / "xpagent.env"
    template.write_text(env_file())
    done = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"; env', "sh", str(template)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert [line for line in done.stdout.splitlines() if line.startswith("XP_")] == []
