"""A plain tor client of the private network, driven with stem.

Tests use it as "a separate tor client" that reaches a node through its SOCKS
port; the quickstart and benchmarks use it the same way.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import stem
import stem.control

from gateway.errors import TestnetError
from gateway.testnet import process
from gateway.testnet.network import TestNetwork
from gateway.testnet.ports import free_ports


@dataclass
class TorClient:
    """A running tor client: its SOCKS port and its authenticated controller.

    When the client is owned by a process (``owner_pid``), stem takes
    ownership on authentication, so the controller is kept open for the
    client's lifetime: closing it (or the owner dying) makes tor exit.
    """

    data_dir: Path
    socks_port: int
    control_socket: Path
    popen: subprocess.Popen[bytes] = field(repr=False)
    controller: stem.control.Controller | None = field(default=None, repr=False)

    @property
    def socks_url(self) -> str:
        return f"socks5://127.0.0.1:{self.socks_port}"

    def connect(self) -> stem.control.Controller:
        """The client's controller, connected and authenticated on first use."""
        if self.controller is None:
            ctl = stem.control.Controller.from_socket_file(str(self.control_socket))
            try:
                ctl.authenticate()
            except BaseException:
                ctl.close()
                raise
            self.controller = ctl
        return self.controller

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.close()
            self.controller = None
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def client_torrc(network: TestNetwork, data_dir: Path, socks_port: int) -> str:
    lines = [
        *network.client_torrc_lines(),
        f"DataDirectory {data_dir}",
        f"SocksPort 127.0.0.1:{socks_port}",
        f"ControlSocket {data_dir / 'control'}",
        "CookieAuthentication 1",
        f"Log notice file {data_dir / 'notice.log'}",
        "SafeLogging 0",
        "ShutdownWaitLength 0",
    ]
    return "\n".join(lines) + "\n"


def launch_client(
    network: TestNetwork,
    data_dir: Path,
    *,
    timeout: float = 90.0,
    owner_pid: int | None = None,
) -> TorClient:
    """Start a tor client of ``network`` and wait until it has bootstrapped to 100%."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (socks_port,) = free_ports(1)
    torrc = data_dir / "torrc"
    torrc.write_text(client_torrc(network, data_dir, socks_port))
    popen = process.spawn(network.tor_binary, torrc, network.defaults_torrc, owner_pid)
    client = TorClient(data_dir, socks_port, data_dir / "control", popen)
    try:
        _wait_bootstrapped(client, timeout)
    except BaseException:
        client.stop()
        raise
    return client


def _wait_bootstrapped(client: TorClient, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "not started"
    while time.monotonic() < deadline:
        if client.popen.poll() is not None:
            raise TestnetError(
                f"tor client exited: {process.log_tail(client.data_dir / 'notice.log')}"
            )
        with contextlib.suppress(stem.SocketError, OSError):
            last = client.connect().get_info("status/bootstrap-phase")
            if "PROGRESS=100" in last:
                return
        time.sleep(0.5)
    raise TestnetError(f"tor client did not bootstrap within {timeout:.0f} s: {last}")
