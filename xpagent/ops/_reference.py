"""The settings reference, generated from the code's own table (`SETTINGS`).

Two views of the same table, so neither can drift from what `xpagent run` accepts:
the environment file (`env_file`, all commented out for the template, with this
node's values set when `xpagent ops render` writes it) and the tables of
`docs/configuration.md` (`settings_tables`). Both list every `XP_*` setting with
its default, allowed values and meaning, grouped as `settings_groups` groups them
(and `xpagent run --help` too).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator, Mapping
from typing import Any

from xpagent.daemon import SETTINGS, Setting, SettingsGroup, settings_groups

__all__ = [
    "ENV_FILE_PATH",
    "SettingsGroup",
    "env_file",
    "env_value",
    "settings_groups",
    "settings_tables",
]

#: Where the service files expect the environment file.
ENV_FILE_PATH = "/etc/xpagent/xpagent.env"

_WRAP = 88
#: A value that needs no quotes in an environment file read by systemd and by sh.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./:@%+,=\[\]-]+")


# --- the environment file ---------------------------------------------------------

_ENV_HEADER = f"""\
# {ENV_FILE_PATH}: the settings of xpagent on this node.
#
# Every XP_* setting is listed with its default and its allowed values. A line
# starting with "#XP_" leaves the default; remove the "#" and set the value to
# change it. An empty value means unset. Flags given to `xpagent run` win over
# this file.
#
# systemd (EnvironmentFile=) and the OpenRC script (which sources it) both read
# this file: write NAME=value, or NAME="value" when it holds spaces or quotes;
# nothing is expanded, so use no $ or backquotes.
#
# Generated from xpagent's settings table; docs/configuration.md lists the same.
"""


def env_value(value: str) -> str:
    """`value` written so that systemd's EnvironmentFile= and sh read it back alike.

    Raises ValueError for a value no environment file can hold (a line break).
    """
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError("a value in an environment file cannot hold a line break")
    if value == "" or _PLAIN_VALUE.fullmatch(value):
        return value
    # Inside double quotes both systemd and sh take \ " $ ` literally when escaped.
    escaped = re.sub(r'([\\"$`])', r"\\\1", value)
    return f'"{escaped}"'


def _comment(text: str) -> list[str]:
    return textwrap.wrap(
        text, _WRAP, initial_indent="# ", subsequent_indent="#   ", break_on_hyphens=False
    )


def _env_entry(setting: Setting[Any], value: str | None) -> Iterator[str]:
    yield from _comment(f"{setting.name}: {setting.help}")
    yield from _comment(f"  default: {setting.default_text}")
    yield from _comment(f"  allowed: {setting.allowed}")
    if value is None:
        yield f"#{setting.name}={env_value(setting.default or '')}"
    else:
        yield f"{setting.name}={env_value(value)}"


def env_file(values: Mapping[str, str] | None = None, *, hide_secrets: bool = False) -> str:
    """The environment file: every setting documented, those in `values` set.

    With `hide_secrets`, a secret setting's value is shown as `<hidden>` (for
    printing, never for the file itself). Raises KeyError for a name in `values`
    that is no setting, ValueError for a value no environment file can hold.
    """
    values = dict(values or {})
    unknown = sorted(set(values) - {setting.name for setting in SETTINGS})
    if unknown:
        raise KeyError(f"not a setting: {', '.join(unknown)}")
    lines = [_ENV_HEADER.rstrip("\n")]
    for group in settings_groups():
        lines += ["", f"## {group.title}"]
        for setting in group.settings:
            value = values.get(setting.name)
            if value is not None and hide_secrets and setting.secret:
                value = "<hidden>"
            lines.append("")
            lines.extend(_env_entry(setting, value))
    return "\n".join(lines) + "\n"


# --- the tables of docs/configuration.md ------------------------------------------


def _cell(text: str) -> str:
    """`text` safe in a Markdown table cell: pipes escaped, no emphasis by accident."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")


def _code(text: str) -> str:
    """`text` as inline code in a table cell (pipes must still be escaped there)."""
    return "`" + text.replace("|", "\\|") + "`"


def _sentence(text: str) -> str:
    return text if text.endswith(".") else text + "."


def _row(setting: Setting[Any]) -> str:
    plain_default = setting.default_doc is None and setting.default is not None
    default = _code(setting.default_text) if plain_default else _cell(setting.default_text)
    cells = (
        _code(setting.name),
        _code(setting.flag),
        default,
        _code(setting.allowed),
        _cell(_sentence(setting.help)),
    )
    return "| " + " | ".join(cells) + " |"


def settings_tables() -> str:
    """The Markdown tables of every setting, one per group, as docs/configuration.md
    shows them."""
    parts: list[str] = []
    for group in settings_groups():
        parts.append(f"### {group.title}\n")
        parts.append("| variable | flag | default | allowed | meaning |")
        parts.append("|---|---|---|---|---|")
        parts.extend(_row(setting) for setting in group.settings)
        if group.note:
            parts.append(f"\n{group.note}")
        parts.append("")
    return "\n".join(parts)
