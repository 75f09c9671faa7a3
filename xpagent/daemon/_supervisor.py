"""Supervisors: one task per monitored component, probing it and restarting it.

Every `interval` a supervisor probes its component under a deadline, hands the
outcome to the recorder, and asks the core's restart policy whether to restart.
A restart runs in a child task, so probing goes on meanwhile, under the restart
timeout (on timeout the command's whole process group is killed by the
restarter's cancellation). A component that stays down is logged again at most
every five minutes, not on every probe.

`supervisors_for` builds the supervisors of a node from its components'
settings: each enabled component gets its probe (`PROBES`) and the restarter of
its restart mode. `keep_running` restarts a crashed supervisor with backoff: one
component's bug never takes the agent down.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping

import attrs
import trio

from xpagent.core import (
    Component,
    ComponentState,
    ComponentStatus,
    ProbeResult,
    RestartPolicy,
    RestartResult,
    format_time,
    restart_due,
)

from ._logging import logger
from ._probes import PROBES, Probe, ProbeClients
from ._recorder import Recorder
from ._restarters import Restarter, build_restarter
from ._settings import ComponentSettings

__all__ = ["STILL_DOWN_LOG_SECS", "Supervisor", "keep_running", "supervisors_for"]

STILL_DOWN_LOG_SECS = 300.0
CRASH_BACKOFF_INITIAL_SECS = 1.0
CRASH_BACKOFF_MAX_SECS = 60.0


def _seconds(value: float) -> str:
    return f"{value:g}s"


@attrs.define
class Supervisor:
    """Watches one component; `run` never returns."""

    component: Component
    probe: Probe
    restarter: Restarter | None
    settings: ComponentSettings
    recorder: Recorder
    probe_deadline_secs: float
    _last_down_log: float = attrs.field(default=-math.inf, init=False)

    @property
    def policy(self) -> RestartPolicy:
        return RestartPolicy(
            enabled=self.restarter is not None,
            cooldown_secs=self.settings.restart_cooldown_secs,
            backoff_max_secs=self.settings.restart_backoff_max_secs,
        )

    async def probe_once(self) -> ProbeResult:
        """One probe under the deadline; a probe that overruns it is a failure."""
        with trio.move_on_after(self.probe_deadline_secs):
            return await self.probe.probe()
        return ProbeResult.failure(f"timed out after {_seconds(self.probe_deadline_secs)}")

    async def run(self) -> None:
        policy = self.policy
        async with trio.open_nursery() as restarts:
            while True:
                started = trio.current_time()
                result = await self.probe_once()
                self.recorder.record_probe_duration(self.component, trio.current_time() - started)
                state = self.recorder.record_probe(
                    self.component,
                    result,
                    fails_before_down=self.settings.fails_before_down,
                    successes_before_up=self.settings.successes_before_up,
                )
                self._log_if_still_down(state)
                if (
                    self.restarter is not None
                    and result.calls_for_restart
                    and restart_due(state, policy, self.recorder.now())
                ):
                    self.recorder.record_restart_requested(self.component, how=self.restarter.how)
                    restarts.start_soon(self._restart, self.restarter)
                await trio.sleep_until(started + self.settings.health_interval_secs)

    async def _restart(self, restarter: Restarter) -> None:
        """Run one restart under the timeout and record its outcome, whatever happens."""
        timeout = self.settings.restart_timeout_secs
        result = RestartResult.failure("interrupted before it finished")
        try:
            with trio.move_on_after(timeout):
                result = await restarter.restart()
                return
            result = RestartResult.failure(f"timed out after {_seconds(timeout)}")
        finally:
            # Also on cancellation: never leave a restart marked in flight.
            self.recorder.record_restart_finished(self.component, result)

    def _log_if_still_down(self, state: ComponentState) -> None:
        if state.status is not ComponentStatus.DOWN:
            self._last_down_log = -math.inf
            return
        now = trio.current_time()
        if self._last_down_log == -math.inf:
            # The status change itself was just logged by the recorder.
            self._last_down_log = now
        elif now - self._last_down_log >= STILL_DOWN_LOG_SECS:
            self._last_down_log = now
            since = format_time(state.down_since) if state.down_since else "unknown"
            logger.warning(
                "%s still down since %s (%d failed probes)",
                self.component,
                since,
                state.consecutive_failures,
                extra={
                    "component": self.component.value,
                    "status": "down",
                    "reason": state.last_error,
                },
            )


def supervisors_for(
    components: Mapping[Component, ComponentSettings],
    *,
    recorder: Recorder,
    clients: ProbeClients,
) -> list[Supervisor]:
    """One supervisor per enabled component of `components`, in their order."""
    supervisors = []
    for component, settings in components.items():
        kind = PROBES[component]
        probe = kind.build(settings, clients) if settings.enabled else None
        if probe is None:
            continue
        supervisors.append(
            Supervisor(
                component=component,
                probe=probe,
                restarter=build_restarter(settings),
                settings=settings,
                recorder=recorder,
                probe_deadline_secs=min(kind.deadline_secs, float(settings.health_interval_secs)),
            )
        )
    return supervisors


async def keep_running(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `run` forever: when it crashes, log it and start it again after a backoff
    (1 s doubling to 60 s, back to 1 s after a minute without a crash)."""
    task_status.started()
    backoff = CRASH_BACKOFF_INITIAL_SECS
    while True:
        started = trio.current_time()
        try:
            await run()
        except Exception:  # trio.Cancelled is a BaseException: shutdown passes through
            logger.exception("%s crashed; starting it again in %gs", name, backoff)
        else:
            logger.error("%s returned; starting it again in %gs", name, backoff)
        if trio.current_time() - started > CRASH_BACKOFF_MAX_SECS:
            backoff = CRASH_BACKOFF_INITIAL_SECS
        await trio.sleep(backoff)
        backoff = min(backoff * 2, CRASH_BACKOFF_MAX_SECS)
