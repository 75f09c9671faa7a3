"""`xpagent demo`: the orchestration of a self-driving three-node cluster on loopback.

```
run_demo                      options, working directory, trio.run
└─ _main                      signals (Ctrl-C, SIGTERM, SIGHUP) → a clean stop
   └─ _run
      ├─ synthetic history    a state file per node, before its agent starts (_prefill)
      └─ open_fleet           simulated xray + cloudflared per node, the control server
         └─ open_agents       three `xpagent run` processes; stopped on every way out
            ├─ follow_events  the agents' events, narrated (_watch)
            ├─ run_scenario   faults caused and healed forever (_scenario)
            └─ wait_until_one_exits   an agent dying is an error
```

Stopping, whatever the reason (a signal, `--seconds`, an error): the scenario
and the narration stop, each agent gets SIGTERM and a bounded wait (then
SIGKILL), the simulated servers stop, and the demo says where its data is.
"""

from __future__ import annotations

import argparse
import functools
import math
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import trio

from xpagent.core import SUPERVISED, Component
from xpagent.daemon import STATE_FILE_NAME
from xpagent.exception_groups import leaves

from ._agents import DemoAgent, DemoError, open_agents, wait_until_one_exits
from ._fleet import open_fleet
from ._narrator import Narrator
from ._prefill import SYNTHETIC_MARKER, write_synthetic_state
from ._scenario import ScenarioTiming, run_scenario
from ._watch import follow_events
from ._workdir import PORTS_NEEDED, Workdir, prepare_workdir

__all__ = ["add_demo_arguments", "run_demo"]

#: How the demo is started with options (`xpagent demo` takes none yet).
PROG = "xpagent demo"


def _seconds(text: str, *, allow_zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise argparse.ArgumentTypeError(f"{text} is not a {kind} number of seconds")
    return value


def _base_port(text: str) -> int:
    highest = 65535 - PORTS_NEEDED + 1
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1024 <= port <= highest:
        raise argparse.ArgumentTypeError(f"{port} is out of range 1024..={highest}")
    return port


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options, for whichever parser runs it."""
    parser.add_argument(
        "--dir",
        type=Path,
        help="working directory (created if missing; kept afterwards). An earlier "
        "demo's directory continues its history. Default: a new temporary directory",
    )
    parser.add_argument(
        "--base-port",
        type=_base_port,
        metavar="PORT",
        help=f"use the {PORTS_NEEDED} loopback ports from this one on "
        "(default: free ports chosen by the system)",
    )
    parser.add_argument(
        "--seconds",
        type=functools.partial(_seconds, allow_zero=False),
        help="stop by itself after this many seconds of scenario (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--first-fault-after",
        type=functools.partial(_seconds, allow_zero=True),
        default=ScenarioTiming().first_fault_after,
        metavar="SECONDS",
        help="when the scenario's first fault comes once the agents are up (default: %(default)g)",
    )


def _prefill(workdir: Workdir, narrator: Narrator) -> None:
    now = datetime.now(UTC)
    for node in workdir.nodes:
        state_file = node.data_dir / STATE_FILE_NAME
        if state_file.exists():
            narrator.say("demo", f"{node.node_id}: continuing the history in {state_file}")
            continue
        enabled = SUPERVISED if node.plan.has_tunnel else (Component.XRAY,)
        write_synthetic_state(node.data_dir, node.node_id, enabled=enabled, now=now)
        narrator.say("demo", f"{node.node_id}: wrote a synthetic week of history to {state_file}")


def _banner(workdir: Workdir, agents: Sequence[DemoAgent]) -> str:
    token = workdir.admin_token
    first = workdir.nodes[0]
    auth = f'-H "Authorization: Bearer {token}"'
    lines = [
        "",
        "xpagent demo: three real agents on loopback, watching simulated xray and cloudflared",
        "",
        f"  web UI        {first.api_url}/?token={token}",
        "                (open it in a browser: the page keeps the token for the session",
        "                and removes it from the address bar; every node shows the whole",
        "                cluster, node-a is just the one to start with)",
        f"  API           {first.api_url}/api/",
        f"  admin token   {token}",
        f"                (also in {workdir.token_file})",
        "",
        "  try:",
        f"    curl {auth} {first.api_url}/api/admin/nodes/runtime",
        f'    curl {auth} "{first.api_url}/api/admin/nodes/node-c/runtime?events_limit=20"',
        f"    curl -N {auth} {first.api_url}/api/admin/nodes/node-b/runtime/events",
        "",
        "  nodes:",
    ]
    for agent in agents:
        node = agent.node
        tunnel = (
            f"cloudflared metrics http://127.0.0.1:{node.metrics_port}"
            if node.metrics_port is not None
            else "no cloudflared (not enabled on this node)"
        )
        lines.append(
            f"    {node.node_id}  {node.node_name:<15} {node.api_url}  agent pid {agent.pid}  "
            f"xray 127.0.0.1:{node.xray_port}  {tunnel}"
        )
    lines += [
        "",
        f"  logs          {workdir.root}/<node>/agent.log (one per agent)",
        f"  control       {workdir.control_url}/ (the simulated components' state)",
        "",
        "  NOTE: the history before this start (the 7-day bars, the older events) was",
        "  generated by the demo: it is synthetic, not observed. Those events start with",
        '  "(synthetic)", and each node\'s event log closes them with an xp event saying',
        f'  "{SYNTHETIC_MARKER}".',
        "  Everything after that event is real: the agents really probe and restart the",
        "  simulated xray and cloudflared, which the scenario below keeps breaking.",
        "",
        "  Ctrl-C stops the demo.",
        "",
    ]
    return "\n".join(lines)


def _closing(workdir: Workdir) -> str:
    rows = []
    for node in workdir.nodes:
        rows.append((node.data_dir / STATE_FILE_NAME, f"{node.node_id}'s history and events"))
        rows.append((node.log_path, f"{node.node_id}'s log"))
    width = max(len(str(path)) for path, _ in rows)
    lines = ["", f"The demo's data stays in {workdir.root}:"]
    lines += [f"  {path!s:<{width}}   {what}" for path, what in rows]
    lines += [f"Continue from it with: {PROG} --dir {workdir.root}", ""]
    return "\n".join(lines)


async def _run(workdir: Workdir, options: argparse.Namespace, narrator: Narrator) -> None:
    narrator.say("demo", f"working directory {workdir.root}")
    _prefill(workdir, narrator)
    timing = ScenarioTiming(first_fault_after=options.first_fault_after)
    async with open_fleet(workdir, narrator) as fleet:
        narrator.say("demo", "simulated xray and cloudflared are running; starting the agents")
        async with open_agents(workdir, narrator) as agents:
            narrator.write(_banner(workdir, agents))
            seconds = options.seconds if options.seconds is not None else math.inf
            with trio.move_on_after(seconds) as timer:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(wait_until_one_exits, agents)
                    nursery.start_soon(follow_events, workdir.nodes, workdir.admin_token, narrator)
                    scenario = functools.partial(
                        run_scenario,
                        fleet,
                        narrator,
                        timing=timing,
                        agent_pids={agent.node.node_id: agent.pid for agent in agents},
                    )
                    nursery.start_soon(scenario)
            if timer.cancelled_caught:
                narrator.say("demo", f"{seconds:g} s are over: stopping the agents")


async def _stop_on_signal(
    signals: AsyncIterator[int], scope: trio.CancelScope, narrator: Narrator
) -> None:
    async for signum in signals:
        name = signal.Signals(signum).name
        if scope.cancel_called:
            narrator.say("demo", f"{name}: already stopping (every wait is bounded)")
            continue
        narrator.say("demo", f"{name}: stopping the scenario and the agents")
        scope.cancel()


async def _main(workdir: Workdir, options: argparse.Namespace, narrator: Narrator) -> int:
    failures: list[BaseException] = []
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            run_scope = trio.CancelScope()
            nursery.start_soon(_stop_on_signal, signals, run_scope, narrator)
            try:
                with run_scope:
                    await _run(workdir, options, narrator)
            except* (DemoError, OSError) as group:
                failures += leaves(group)
            nursery.cancel_scope.cancel()
    narrator.write(_closing(workdir))
    for failure in failures:
        reason = failure.strerror if isinstance(failure, OSError) else None
        narrator.say("demo", f"stopped by an error: {reason or failure}")
    return 1 if failures else 0


def run_demo(argv: Sequence[str] | None = None) -> int:
    """Run the demo until Ctrl-C/SIGTERM (or `--seconds`); the exit status.

    `argv` holds the demo's options only (None: no options).
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Three real xpagent agents on loopback, watching simulated xray and "
        "cloudflared that a scripted scenario keeps breaking and healing.",
    )
    add_demo_arguments(parser)
    try:
        options = parser.parse_args([] if argv is None else list(argv))
    except SystemExit as exc:  # --help, or an option argparse refused (it said why)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        workdir = prepare_workdir(options.dir, base_port=options.base_port)
    except OSError as exc:
        print(f"xpagent demo: cannot prepare the working directory: {exc}", file=sys.stderr)
        return 1
    return trio.run(_main, workdir, options, Narrator())
