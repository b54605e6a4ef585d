"""Waiting for tor to bootstrap, with progress and a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from gateway.errors import ControlError
from gateway.tor.controller import LogMessage, TorControl, TorEvent
from gateway.tor.display import ProgressDisplay
from gateway.tor.progress import BootstrapTracker, parse_bootstrap_phase

log = logging.getLogger("gateway.tor")

#: how often tor's bootstrap phase is polled besides the events
POLL_INTERVAL = 0.5

#: returns why tor is gone, or None while it runs
DeathProbe = Callable[[], str | None]


async def wait_for_bootstrap(
    control: TorControl,
    *,
    timeout: float,
    display: ProgressDisplay | None = None,
    death_probe: DeathProbe | None = None,
) -> BootstrapTracker:
    """Return once tor reports 100%; raise BootstrapError on timeout or tor's death."""
    tracker = BootstrapTracker()
    events = await control.subscribe("STATUS_CLIENT", "WARN", "ERR")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            _drain(events, tracker, display)
            await _poll_phase(control, tracker, display)
            if tracker.done:
                return tracker
            gone = death_probe() if death_probe is not None else None
            if gone is not None or not control.is_alive():
                raise tracker.error(f"tor exited during bootstrap ({gone or 'control closed'})")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise tracker.error(f"tor did not bootstrap within {timeout:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(control.closed.wait(), min(POLL_INTERVAL, remaining))
    finally:
        if display is not None:
            display.finish()


async def _poll_phase(
    control: TorControl, tracker: BootstrapTracker, display: ProgressDisplay | None
) -> None:
    try:
        line = await control.get_info("status/bootstrap-phase")
    except ControlError as exc:
        if control.is_alive():
            raise
        log.debug("bootstrap poll failed, control closed: %s", exc)
        return
    _record(line, tracker, display)


def _drain(
    events: asyncio.Queue[TorEvent], tracker: BootstrapTracker, display: ProgressDisplay | None
) -> None:
    while not events.empty():
        event = events.get_nowait()
        if isinstance(event, LogMessage):
            tracker.on_warning(str(event))
        elif isinstance(event, str):
            _record(event, tracker, display)


def _record(line: str, tracker: BootstrapTracker, display: ProgressDisplay | None) -> None:
    phase = parse_bootstrap_phase(line)
    if phase is None:
        return
    if tracker.on_phase(phase):
        log.debug("bootstrap %s", phase.describe())
        if display is not None:
            display.show(phase)
