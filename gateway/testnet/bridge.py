"""An obfs4 bridge for the private Tor network (``gateway testnet up --bridge``).

The bridge is a relay of the network that is not in its consensus
(``BridgeRelay 1``, ``PublishServerDescriptor 0``): a client learns of it only from
its bridge line, reaches it only through obfs4proxy (``ServerTransportPlugin``),
and fetches the bridge's own descriptor from it. It lives in ``DIR/bridges/<nick>/``
beside the network's nodes, and ``TestNetwork.stop()`` stops it with them.

Its bridge line, once tor and obfs4proxy have made their keys::

    obfs4 127.0.0.1:<obfs4 port> <fingerprint> cert=<obfs4 node id + key> iat-mode=0
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from gateway.errors import TestnetError
from gateway.testnet import process
from gateway.testnet.ports import free_ports
from gateway.testnet.torrc import LOOPBACK, NodeSpec, TorDirectory, dir_authority_line

BRIDGES = "bridges"
#: obfs4proxy writes the server's line (with a placeholder address) here, in the DataDirectory
OBFS4_LINE = Path("pt_state") / "obfs4_bridgeline.txt"
_CERT = re.compile(r"\bcert=(\S+)\s+iat-mode=(\d)")


@dataclass(frozen=True)
class BridgeSpec(TorDirectory):
    nickname: str
    orport: int
    #: where obfs4proxy listens for clients (the address in the bridge line)
    ptport: int
    directory: Path
    transport: str = "obfs4"


def bridge_torrc(bridge: BridgeSpec, authorities: tuple[NodeSpec, ...], obfs4proxy: str) -> str:
    """The bridge's whole torrc (pure)."""
    lines = [
        "TestingTorNetwork 1",
        "PathsNeededToBuildCircuits 0.67",
        f"DataDirectory {bridge.directory}",
        "RunAsDaemon 0",
        f"Nickname {bridge.nickname}",
        f"PidFile {bridge.pid_file}",
        f"Log notice file {bridge.directory}/notice.log",
        "SafeLogging 0",
        "ShutdownWaitLength 0",
        "Sandbox 0",
        "SocksPort 0",
        "ControlPort 0",
        f"Address {LOOPBACK}",
        f"ORPort {LOOPBACK}:{bridge.orport}",
        "AssumeReachable 1",
        "BridgeRelay 1",
        "PublishServerDescriptor 0",
        "ExitRelay 0",
        "ExitPolicy reject *:*",
        f"ServerTransportPlugin {bridge.transport} exec {obfs4proxy}",
        f"ServerTransportListenAddr {bridge.transport} {LOOPBACK}:{bridge.ptport}",
        "ExtORPort auto",
        *(dir_authority_line(a) for a in authorities),
    ]
    return "\n".join(lines) + "\n"


def bridge_line(bridge: BridgeSpec) -> str | None:
    """The line a client's ``tor.bridges`` takes, once the bridge has made its keys."""
    try:
        fingerprint = (bridge.directory / "fingerprint").read_text().split()[1]
        made = (bridge.directory / OBFS4_LINE).read_text()
    except (OSError, IndexError):
        return None
    cert = _CERT.search(made)
    if cert is None:
        return None
    return (
        f"{bridge.transport} {LOOPBACK}:{bridge.ptport} {fingerprint} "
        f"cert={cert.group(1)} iat-mode={cert.group(2)}"
    )


def find_obfs4proxy() -> str:
    path = shutil.which("obfs4proxy")
    if path is None:
        raise TestnetError("the obfs4 bridge needs Debian's 'obfs4proxy' package (not on PATH)")
    return path


def _load(record: Path) -> BridgeSpec:
    try:
        data = json.loads(record.read_text())
        return BridgeSpec(**{**data, "directory": Path(data["directory"])})
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise TestnetError(f"{record}: unreadable bridge record: {exc}") from exc


def make_bridge(directory: Path, authorities: tuple[NodeSpec, ...]) -> BridgeSpec:
    """The network's obfs4 bridge: made (ports, torrc) the first time, loaded after."""
    folder = directory / BRIDGES / "bridge0"
    record = folder / "bridge.json"
    if record.exists():
        return _load(record)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    orport, ptport = free_ports(2)
    bridge = BridgeSpec("bridge0", orport, ptport, folder)
    bridge.torrc_path.write_text(bridge_torrc(bridge, authorities, find_obfs4proxy()))
    record.write_text(json.dumps({**asdict(bridge), "directory": str(folder)}, indent=2) + "\n")
    return bridge


def start_bridge(
    bridge: BridgeSpec,
    tor: str,
    defaults: Path,
    *,
    timeout: float = 90.0,
    owner_pid: int | None = None,
) -> str:
    """Start the bridge (unless it runs) and wait until it serves clients; its bridge line.

    Ready means obfs4proxy has written its line and tor has bootstrapped (it holds a
    consensus, so it can extend a client's circuits into the network).
    """
    if process.pid_of(bridge.torrc_path, bridge.pid_file) is None:
        bridge.pid_file.unlink(missing_ok=True)
        process.spawn(tor, bridge.torrc_path, defaults, owner_pid)
    log = bridge.directory / "notice.log"
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < timeout:
        line = bridge_line(bridge)
        if line is not None and "Bootstrapped 100%" in _read(log):
            (bridge.directory / "bridge_line").write_text(line + "\n")
            return line
        running = process.pid_of(bridge.torrc_path, bridge.pid_file) is not None
        if elapsed > process.STARTUP_GRACE and not running:
            raise TestnetError(f"the obfs4 bridge is not running: {process.log_tail(log)}")
        time.sleep(0.5)
    raise TestnetError(
        f"the obfs4 bridge was not ready in {timeout:.0f} s: {process.log_tail(log)}"
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def bridges_of(directory: Path) -> list[BridgeSpec]:
    """The bridges made in a network's directory (for status and stop)."""
    return [_load(record) for record in sorted((directory / BRIDGES).glob("*/bridge.json"))]
