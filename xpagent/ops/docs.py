"""Regenerate the files that are generated from the code, in a source checkout.

    python -m xpagent.ops.docs           # rewrite them
    python -m xpagent.ops.docs --check   # exit 1, naming them, if any is stale

They are: the settings tables of `docs/configuration.md` (between its two
`<!-- settings … -->` markers), the environment template `packaging/xpagent.env`
and the example service files in `packaging/systemd/` and `packaging/openrc/`,
rendered with `EXAMPLES` exactly as `xpagent ops render` would.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from xpagent.daemon import load_settings

from ._plan import DEFAULT_USER, Init, plan_service
from ._reference import env_file, settings_tables
from ._templates import render_files

__all__ = ["BEGIN_MARKER", "END_MARKER", "EXAMPLES", "generated_files", "main", "repository_root"]

BEGIN_MARKER = (
    "<!-- settings tables: generated from SETTINGS in xpagent/daemon/_config.py by "
    "`python -m xpagent.ops.docs`; edit the table there, not here -->"
)
END_MARKER = "<!-- end of the generated settings tables -->"

#: The executable the examples start: a venv under /opt, as docs/ops.md installs it.
EXAMPLE_EXECUTABLE = "/opt/xpagent/bin/xpagent"
_METRICS = {
    "XP_CLOUDFLARED_MONITOR_MODE": "metrics",
    "XP_CLOUDFLARED_METRICS_URL": "http://127.0.0.1:20241",
}
#: The settings each example is rendered with, and where its files go in packaging/.
EXAMPLES: dict[Init, tuple[dict[str, str], dict[str, str]]] = {
    Init.SYSTEMD: (
        {
            "XP_XRAY_RESTART_MODE": "systemd",
            "XP_CLOUDFLARED_RESTART_MODE": "systemd",
            **_METRICS,
        },
        {
            "etc/systemd/system/xpagent.service": "packaging/systemd/xpagent.service",
            "etc/polkit-1/rules.d/50-xpagent.rules": "packaging/systemd/50-xpagent.rules",
        },
    ),
    Init.OPENRC: (
        {
            "XP_XRAY_RESTART_MODE": "openrc",
            "XP_CLOUDFLARED_RESTART_MODE": "openrc",
            **_METRICS,
        },
        {
            "etc/init.d/xpagent": "packaging/openrc/xpagent",
            "etc/doas.d/xpagent.conf": "packaging/openrc/doas.conf",
            "etc/sudoers.d/xpagent": "packaging/openrc/sudoers",
        },
    ),
}


def repository_root() -> Path:
    """The source checkout this module lives in."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or not (root / "docs").is_dir():
        raise FileNotFoundError(f"{root} is not an xpagent source checkout")
    return root


def _example(init: Init, env: Mapping[str, str], places: Mapping[str, str]) -> dict[str, str]:
    settings = load_settings({}, env, host_name="example", create_files=False).settings
    plan = plan_service(
        settings, env, init=init, user=DEFAULT_USER, command=(EXAMPLE_EXECUTABLE, "run")
    )
    rendered = {str(file.path): file.content for file in render_files(plan)}
    return {place: rendered[path] for path, place in places.items()}


def _with_tables(document: str) -> str:
    """`document` (docs/configuration.md) with its generated region made current."""
    before, begin, rest = document.partition(BEGIN_MARKER)
    _, end, after = rest.partition(END_MARKER)
    if not begin or not end:
        raise ValueError(f"docs/configuration.md lacks the markers {BEGIN_MARKER} … {END_MARKER}")
    return f"{before}{BEGIN_MARKER}\n\n{settings_tables()}\n{END_MARKER}{after}"


def generated_files(root: Path) -> dict[str, str]:
    """Every generated file's path (relative to `root`) and its current text."""
    files = {"packaging/xpagent.env": env_file()}
    for init, (env, places) in EXAMPLES.items():
        files.update(_example(init, env, places))
    configuration = "docs/configuration.md"
    files[configuration] = _with_tables((root / configuration).read_text(encoding="utf-8"))
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xpagent.ops.docs",
        description="Regenerate docs/configuration.md's settings tables and packaging/.",
    )
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    root = repository_root()
    stale = [
        path
        for path, text in generated_files(root).items()
        if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in stale:
            print(f"stale: {path} (run `python -m xpagent.ops.docs`)", file=sys.stderr)
        return 1 if stale else 0
    for path, text in generated_files(root).items():
        if path in stale:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
