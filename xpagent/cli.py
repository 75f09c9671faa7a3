"""The `xpagent` command line: `run`, `demo` and `--version`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import trio

from xpagent import __version__

__all__ = ["EXIT_CANNOT_SERVE", "EXIT_CONFIG", "EXIT_STATE_NOT_SAVED", "main"]

#: Exit code for a configuration that cannot be used (CONTRACT §1).
EXIT_CONFIG = 2
#: Exit code when the API cannot listen on XP_BIND.
EXIT_CANNOT_SERVE = 1
#: Exit code when the agent stopped but could not write its state file.
EXIT_STATE_NOT_SAVED = 3


def build_parser() -> argparse.ArgumentParser:
    from xpagent.daemon import add_run_arguments

    parser = argparse.ArgumentParser(
        prog="xpagent",
        description="Node observability agent for self-hosted proxy fleets.",
    )
    parser.add_argument("--version", action="version", version=f"xpagent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run the node daemon in the foreground (logs to stderr)",
        description="Run the node daemon. Every setting is an XP_* environment variable "
        "or the matching flag; flags win.",
    )
    add_run_arguments(run)
    demo = commands.add_parser(
        "demo",
        help="a self-driving local cluster with simulated xray and cloudflared",
        description="Start three agents on loopback with simulated xray and cloudflared "
        "and a scripted stream of faults; prints the address and the admin token.",
    )
    from xpagent.demo import add_demo_arguments

    add_demo_arguments(demo)
    return parser


def _run(args: argparse.Namespace) -> int:
    from xpagent.agent import run_until_signal
    from xpagent.api import ListenError, first_leaf
    from xpagent.daemon import (
        ConfigError,
        StateStoreError,
        configure_logging,
        flags_from_namespace,
        load_settings,
        logger,
    )

    try:
        loaded = load_settings(flags_from_namespace(args), os.environ)
    except ConfigError as exc:
        print(f"xpagent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    settings = loaded.settings
    configure_logging(settings.log_level, settings.log_format)
    for warning in loaded.warnings:
        logger.warning(warning)
    logger.info(
        "xpagent %s starting: node %s (%s), data in %s",
        __version__,
        settings.node_id,
        settings.node_name,
        settings.data_dir,
    )
    failure: OSError | None = None
    try:
        trio.run(run_until_signal, settings)
    except* (ListenError, StateStoreError) as group:
        failure = first_leaf(group)  # type: ignore[assignment]
    if isinstance(failure, ListenError):
        logger.error(str(failure))
        return EXIT_CANNOT_SERVE
    if failure is not None:
        logger.error("stopped, but the state was not saved: %s", failure)
        return EXIT_STATE_NOT_SAVED
    logger.info("xpagent stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "demo":
        from xpagent.demo import run_demo

        # The demo parses its own options (the same ones, checked above).
        return run_demo(argv[argv.index("demo") + 1 :])
    parser.print_help(sys.stderr)
    return EXIT_CONFIG
