"""A tor the node talks to: launched (owned) or attached, connected and bootstrapped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gateway.config.schema import GatewayConfig
from gateway.config.torrc import TorrcContext, render_torrc
from gateway.errors import BootstrapError, ControlError, TorError
from gateway.tor import attach, launch
from gateway.tor.bootstrap import wait_for_bootstrap
from gateway.tor.bridges import through_bridges
from gateway.tor.controller import TorControl, TorEvent
from gateway.tor.display import ProgressDisplay

log = logging.getLogger("gateway.tor")

#: how often a running tor is checked besides the control connection's close event
WATCH_INTERVAL = 1.0
#: how long a dead tor's exit status is awaited, for a precise reason
REAP_WAIT = 2.0
#: how long to keep trying the control socket of a tor that just started
CONNECT_RETRY = 10.0


@dataclass
class TorSession:
    """A connected tor; ``launched`` is set when the node owns the process."""

    control: TorControl
    #: HS_DESC events, subscribed before any service exists so none is missed
    hs_events: asyncio.Queue[TorEvent]
    launched: launch.LaunchedTor | None = None
    socks_port: int | None = None

    def death_reason(self) -> str | None:
        """Why tor is gone (process exited or control connection closed), or None."""
        if self.launched is not None:
            reason = launch.death_reason(self.launched.process)
            if reason is not None:
                return reason
        if not self.control.is_alive():
            return "the control connection closed"
        return None

    async def wait_dead(self, interval: float = WATCH_INTERVAL) -> str:
        """Return (with the reason) once tor is gone; checks every ``interval``."""
        while True:
            reason = self.death_reason()
            if reason is not None and self.launched is not None:
                # the socket closes a moment before the process can be reaped
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(self.launched.process.wait, REAP_WAIT)
                reason = self.death_reason()
            if reason is not None:
                return reason
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.control.closed.wait(), interval)

    async def close(self) -> None:
        """Close the control connection and, if we own tor, stop and reap it."""
        with contextlib.suppress(ControlError):
            await self.control.close()
        if self.launched is not None:
            await asyncio.to_thread(launch.stop_process, self.launched.process)


async def start_launched(
    cfg: GatewayConfig, ctx: TorrcContext, display: ProgressDisplay | None
) -> TorSession:
    """Render the torrc, start tor, connect, and wait for bootstrap."""
    torrc_path = ctx.data_dir / "torrc"
    launch.write_torrc(torrc_path, render_torrc(cfg, ctx))
    launched = await launch.launch_tor(
        cfg.tor.binary, torrc_path, ctx.control_socket, timeout=cfg.tor.bootstrap_timeout
    )
    try:
        control = await _connect_with_retry(ctx.control_socket, launched)
        await control.call(control.stem.msg, "TAKEOWNERSHIP")  # tor exits when we go
        session = TorSession(control, await control.subscribe("HS_DESC"), launched, ctx.socks_port)
        await wait_for_bootstrap(
            control,
            timeout=cfg.tor.bootstrap_timeout,
            display=display,
            death_probe=lambda: launch.death_reason(launched.process),
        )
    except BaseException as exc:
        await asyncio.to_thread(launch.stop_process, launched.process)
        if isinstance(exc, BootstrapError):
            raise through_bridges(exc, cfg.tor.bridges) from None
        raise
    return session


async def start_attached(cfg: GatewayConfig, display: ProgressDisplay | None) -> TorSession:
    """Connect to the running tor, check its capabilities, wait for bootstrap."""
    control = await attach.connect_attached(cfg)
    try:
        await attach.check_attached(cfg, control)
        session = TorSession(
            control,
            await control.subscribe("HS_DESC"),
            None,
            await attach.attached_socks_port(cfg, control),
        )
        await wait_for_bootstrap(control, timeout=cfg.tor.bootstrap_timeout, display=display)
    except BaseException:
        with contextlib.suppress(TorError):
            await control.close()
        raise
    return session


async def _connect_with_retry(socket_path: Path, launched: launch.LaunchedTor) -> TorControl:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONNECT_RETRY
    while True:
        try:
            return await TorControl.connect(socket_path=socket_path)
        except ControlError:
            gone = launch.death_reason(launched.process)
            if gone is not None or loop.time() >= deadline:
                raise
            await asyncio.sleep(0.1)
