"""The `xpagent` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from xpagent import __version__

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xpagent",
        description="Node observability agent for self-hosted proxy fleets.",
    )
    parser.add_argument("--version", action="version", version=f"xpagent {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return 0
