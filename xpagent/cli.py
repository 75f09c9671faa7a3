"""The `xpagent` command line: `run`, `demo`, `status`, `ops render` and `--version`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import trio

from xpagent import __version__

__all__ = ["EXIT_CANNOT_SERVE", "EXIT_CONFIG", "EXIT_STATE_NOT_SAVED", "main"]

#: Exit code for a configuration that cannot be used (CONTRACT §1).
EXIT_CONFIG = 2
#: Exit code when the API cannot listen on XP_BIND.
EXIT_CANNOT_SERVE = 1
#: Exit code when the agent stopped but could not write its state file, or could not
#: start because an unusable state file could not be moved aside.
EXIT_STATE_NOT_SAVED = 3


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line where a command asks for it (`terse`).

    Each command's parser records itself as `command_parser`, so that unknown
    arguments are reported with that command's usage, not the top level's.
    """

    terse = False

    def error(self, message: str) -> NoReturn:
        if self.terse:
            self.exit(EXIT_CONFIG, f"{self.prog}: {message}\n")
        super().error(message)


def _command(commands: argparse._SubParsersAction[_Parser], name: str, **kwargs: Any) -> _Parser:
    parser = commands.add_parser(name, **kwargs)
    parser.set_defaults(command_parser=parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from xpagent.daemon import add_run_arguments

    parser = _Parser(
        prog="xpagent",
        description="Node observability agent for self-hosted proxy fleets.",
    )
    parser.add_argument("--version", action="version", version=f"xpagent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = _command(
        commands,
        "run",
        help="run the node daemon in the foreground (logs to stderr)",
        description="Run the node daemon. Every setting is an XP_* environment variable "
        "or the matching flag; flags win.",
    )
    add_run_arguments(run)
    demo = _command(
        commands,
        "demo",
        help="a self-driving local cluster with simulated xray and cloudflared",
        description="Start three agents on loopback with simulated xray and cloudflared "
        "and a scripted stream of faults; prints the address and the admin token.",
    )
    from xpagent.demo import add_demo_arguments

    add_demo_arguments(demo)
    _add_status(commands)
    _add_ops(commands)
    return parser


def _add_status(commands: argparse._SubParsersAction[_Parser]) -> None:
    from xpagent.status import add_status_arguments

    status = _command(
        commands,
        "status",
        help="the cluster's runtime as a terminal table",
        description="Ask an agent (by default this node's, from XP_BIND and XP_ADMIN_TOKEN) "
        "for the cluster's runtime and print one row per node: summary, what is not up, "
        "the last 48 half-hour slots and the 7-day availability. Exit status: 0 all up, "
        "1 not all up, 2 usage error, 3 the agent cannot be reached or refuses the token.",
    )
    status.terse = True
    add_status_arguments(status)


def _add_ops(commands: argparse._SubParsersAction[_Parser]) -> None:
    from xpagent.ops import add_render_arguments

    ops = _command(
        commands,
        "ops",
        help="operating a node: service files and restart permissions",
        description="Operating a node. See docs/ops.md.",
    )
    ops_commands = ops.add_subparsers(dest="ops_command", metavar="OPS_COMMAND", required=True)
    render = _command(
        ops_commands,
        "render",
        help="write the service files, restart permissions and env file for this node",
        description="Write the systemd unit or OpenRC script, the restart permission "
        "(polkit rule, or doas.conf and sudoers lines) and the environment file for this "
        "node, from the same XP_* settings (environment or flags) as `xpagent run`. "
        "Nothing is written outside --out.",
    )
    render.terse = True
    add_render_arguments(render)


def _run(args: argparse.Namespace) -> int:
    from xpagent.agent import run_until_signal
    from xpagent.api import ListenError, first_leaf
    from xpagent.daemon import (
        ConfigError,
        KeepAsideError,
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
    if isinstance(failure, KeepAsideError):
        # Nothing was started: the agent's first write would have destroyed the file.
        logger.error(
            "not started: %s; make %s writable for this user (or move the file away), "
            "then start again",
            failure,
            failure.path.parent,
        )
        return EXIT_STATE_NOT_SAVED
    if failure is not None:
        logger.error("stopped, but the state was not saved: %s", failure)
        return EXIT_STATE_NOT_SAVED
    logger.info("xpagent stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command_parser: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "status":
        from xpagent.status import run_status

        return run_status(args, os.environ)
    if args.command == "ops":
        from xpagent.ops import run_render

        return run_render(args, os.environ)
    if args.command == "run":
        return _run(args)
    if args.command == "demo":
        from xpagent.demo import run_demo

        # The demo parses its own options (the same ones, checked above).
        return run_demo(argv[argv.index("demo") + 1 :])
    parser.print_help(sys.stderr)
    return EXIT_CONFIG
