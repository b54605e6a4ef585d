"""``gateway bridges test``: does tor bootstrap through each bridge on its own?

For every bridge line a throwaway tor is started (in its own temporary data
directory, with only that bridge and its transport, and the private network's lines
when ``tor.testnet`` is set), and its bootstrap is watched up to a deadline. The
bridges are tried at once; nothing of the node's state is used or changed.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.config.bridges import BridgeLine, bridge_torrc_lines
from gateway.config.schema import GatewayConfig
from gateway.errors import BootstrapError, TorError
from gateway.tor import launch
from gateway.tor.bootstrap import wait_for_bootstrap
from gateway.tor.bridges import through_bridges
from gateway.tor.controller import TorControl


@dataclass(frozen=True)
class BridgeResult:
    bridge: BridgeLine
    ok: bool
    seconds: float
    #: why it failed ("" when it bootstrapped)
    error: str = ""


def probe_torrc(cfg: GatewayConfig, bridge: BridgeLine, data_dir: Path) -> str:
    """The throwaway tor's torrc: only ``bridge`` (pure but for reading the testnet's lines)."""
    transports = tuple((t, b) for t, b in cfg.tor.transports if t == bridge.transport)
    lines = [
        f"DataDirectory {data_dir}",
        f"ControlSocket unix:{data_dir}/control.sock",
        "CookieAuthentication 1",
        "SocksPort 0",
        f"Log notice file {data_dir}/notice.log",
    ]
    if cfg.tor.testnet is not None:
        lines += (cfg.tor.testnet / "client.conf").read_text().splitlines()
    lines += bridge_torrc_lines((bridge,), transports)
    return "\n".join(lines) + "\n"


async def probe_bridge(cfg: GatewayConfig, bridge: BridgeLine, timeout: float) -> BridgeResult:
    """Bootstrap a throwaway tor through ``bridge`` alone; how it went."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gw-bridge-") as tmp:
        data_dir = Path(tmp)
        torrc = data_dir / "torrc"
        launch.write_torrc(torrc, probe_torrc(cfg, bridge, data_dir))
        try:
            launched = await launch.launch_tor(
                cfg.tor.binary, torrc, data_dir / "control.sock", timeout=timeout
            )
        except TorError as exc:
            return BridgeResult(bridge, False, time.monotonic() - started, str(exc))
        try:
            control = await TorControl.connect(socket_path=data_dir / "control.sock")
            try:
                remaining = max(1.0, timeout - (time.monotonic() - started))
                await wait_for_bootstrap(control, timeout=remaining)
            finally:
                await control.close()
        except TorError as exc:
            if isinstance(exc, BootstrapError):
                exc = through_bridges(exc, (bridge,))
            return BridgeResult(bridge, False, time.monotonic() - started, str(exc))
        finally:
            await asyncio.to_thread(launch.stop_process, launched.process)
    return BridgeResult(bridge, True, time.monotonic() - started)


async def probe_bridges(
    cfg: GatewayConfig, bridges: tuple[BridgeLine, ...], timeout: float
) -> list[BridgeResult]:
    """Every bridge at once, each on its own tor."""
    return list(await asyncio.gather(*(probe_bridge(cfg, b, timeout) for b in bridges)))
