"""``gateway run`` on the private Tor network: real tor, real stem, real SOCKS.

Each node runs as ``python -m gateway --config ... run`` in a subprocess; it is
reached through the session's separate tor client.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp_socks
import pytest
import python_socks
import yaml
from aiohttp_socks import ProxyConnector

from gateway.testnet import TestNetwork, TorClient
from gateway.testnet.ports import free_ports
from gateway.testnet.process import spawn

pytestmark = pytest.mark.integration

START_TIMEOUT = 180.0
#: what a failed GET through the SOCKS proxy raises
REACH_ERRORS = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    aiohttp_socks.ProxyError,
    aiohttp_socks.ProxyConnectionError,
    aiohttp_socks.ProxyTimeoutError,
    python_socks.ProxyError,
)


# --- helpers -------------------------------------------------------------------


def make_node(tmp_path: Path, testnet: TestNetwork, level: str = "standard", **tor: Any) -> Path:
    """``gateway init`` a node in ``tmp_path``, then apply ``tor`` overrides to its YAML."""
    config = tmp_path / "node.yaml"
    subprocess.run(
        [
            sys.executable, "-m", "gateway", "--config", str(config), "init",
            "--level", level, "--testnet", str(testnet.directory),
            "--state-dir", str(tmp_path / "state"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    data = yaml.safe_load(config.read_text())
    data["tor"].update(tor)
    config.write_text(yaml.safe_dump(data))
    return config


class Node:
    """A ``gateway run`` subprocess with its stdout lines in a queue."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(config), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(
            target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True
        ).start()
        threading.Thread(
            target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True
        ).start()

    @staticmethod
    def _pump(stream: Any, sink: Any) -> None:
        for line in stream:
            sink(line.rstrip("\n"))

    def next_address(self, timeout: float = START_TIMEOUT) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no address within {timeout} s: {self.stderr[-10:]}") from None
        assert line.endswith(".onion") and len(line) == 62, line
        return line

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("gateway run did not stop on SIGTERM") from None


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        if node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()


def tor_pids(marker: Path) -> list[int]:
    """Live tor processes whose command line mentions ``marker`` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        if argv and argv[0].endswith(b"tor") and any(str(marker).encode() in a for a in argv):
            pids.append(int(entry.name))
    return pids


async def fetch_health(client: TorClient, onion: str, timeout: float = 30) -> dict[str, Any]:
    connector = ProxyConnector.from_url(client.socks_url, rdns=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"http://{onion}/health", timeout=aiohttp.ClientTimeout(total=timeout)) as resp,
    ):
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def reach(client: TorClient, onion: str, deadline: float = 90) -> dict[str, Any]:
    """GET /health through the client, retrying until ``deadline`` seconds pass."""
    end = time.monotonic() + deadline
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            return await fetch_health(client, onion)
        except REACH_ERRORS as exc:
            last = exc
            await asyncio.sleep(1)
    raise AssertionError(f"{onion} not reachable within {deadline} s: {last!r}")


async def unreachable(client: TorClient, onion: str, attempts: int = 3) -> bool:
    """True if every one of ``attempts`` GETs fails."""
    for _ in range(attempts):
        try:
            await fetch_health(client, onion, timeout=20)
        except REACH_ERRORS:
            await asyncio.sleep(1)
            continue
        return False
    return True


def wait_gone(marker: Path, timeout: float = 15) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pids = tor_pids(marker)
        if not pids:
            return []
        time.sleep(0.2)
    return tor_pids(marker)


# --- launch mode ------------------------------------------------------------------


async def test_launch_publish_reach_stop_and_restart_same_address(
    tmp_path: Path, testnet: TestNetwork, tor_client: TorClient, nodes: list[Node]
) -> None:
    config = make_node(tmp_path, testnet)
    node = Node(config)
    nodes.append(node)
    onion = await asyncio.to_thread(node.next_address)
    body = await reach(tor_client, onion)
    assert body["status"] == "ok" and body["protocol"] == 1
    assert "address" not in body
    assert tor_pids(tmp_path / "state")

    assert node.stop() == 0
    assert wait_gone(tmp_path / "state") == []
    assert await unreachable(tor_client, onion)

    again = Node(config)
    nodes.append(again)
    assert await asyncio.to_thread(again.next_address) == onion
    assert (await reach(tor_client, onion))["status"] == "ok"
    assert again.stop() == 0
    assert wait_gone(tmp_path / "state") == []


async def test_high_level_publishes_from_hidden_service_dir(
    tmp_path: Path, testnet: TestNetwork, tor_client: TorClient, nodes: list[Node]
) -> None:
    config = make_node(tmp_path, testnet, level="high")
    node = Node(config)
    nodes.append(node)
    onion = await asyncio.to_thread(node.next_address)
    torrc = (tmp_path / "state" / "tor" / "torrc").read_text()
    assert f"HiddenServiceDir {tmp_path / 'state' / 'hs'}" in torrc
    assert (tmp_path / "state" / "hs" / "hostname").read_text().strip() == onion
    assert (await reach(tor_client, onion))["status"] == "ok"
    assert node.stop() == 0
    assert wait_gone(tmp_path / "state") == []


async def test_tor_killed_is_restarted_with_the_same_address(
    tmp_path: Path, testnet: TestNetwork, tor_client: TorClient, nodes: list[Node]
) -> None:
    config = make_node(tmp_path, testnet, on_tor_death="restart")
    node = Node(config)
    nodes.append(node)
    onion = await asyncio.to_thread(node.next_address)
    [first_tor] = tor_pids(tmp_path / "state")
    os.kill(first_tor, signal.SIGKILL)
    assert await asyncio.to_thread(node.next_address) == onion
    assert node.proc.poll() is None
    [second_tor] = tor_pids(tmp_path / "state")
    assert second_tor != first_tor
    assert (await reach(tor_client, onion))["status"] == "ok"
    assert node.stop() == 0
    assert wait_gone(tmp_path / "state") == []


async def test_tor_killed_with_exit_policy_exits_nonzero(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> None:
    config = make_node(tmp_path, testnet, on_tor_death="exit")
    node = Node(config)
    nodes.append(node)
    await asyncio.to_thread(node.next_address)
    [tor_pid] = tor_pids(tmp_path / "state")
    os.kill(tor_pid, signal.SIGKILL)
    status = await asyncio.to_thread(node.proc.wait, 30)
    assert status == 1
    message = "\n".join(node.stderr)
    assert "gateway: error: tor died (tor was killed by SIGKILL)" in message
    assert wait_gone(tmp_path / "state") == []


# --- attach mode ------------------------------------------------------------------


@pytest.fixture
def system_tor(tmp_path: Path, testnet: TestNetwork) -> Iterator[tuple[int, Path]]:
    """A tor of the private network started apart from the node: control port + cookie."""
    data = tmp_path / "system-tor"
    data.mkdir(mode=0o700)
    control_port, socks_port = free_ports(2)
    torrc = data / "torrc"
    torrc.write_text(
        "\n".join(
            [
                *testnet.client_torrc_lines(),
                f"DataDirectory {data}",
                f"ControlPort 127.0.0.1:{control_port}",
                "CookieAuthentication 1",
                f"SocksPort 127.0.0.1:{socks_port}",
                f"Log notice file {data / 'notice.log'}",
            ]
        )
        + "\n"
    )
    proc = spawn(testnet.tor_binary, torrc, testnet.defaults_torrc, os.getpid())
    try:
        yield control_port, data
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_attach_mode_publishes_and_withdraws(
    tmp_path: Path,
    testnet: TestNetwork,
    tor_client: TorClient,
    system_tor: tuple[int, Path],
    nodes: list[Node],
) -> None:
    control_port, data = system_tor
    config = make_node(
        tmp_path, testnet, mode="attach", control={"port": control_port, "socket": None}
    )
    node = Node(config)
    nodes.append(node)
    onion = await asyncio.to_thread(node.next_address)
    assert (await reach(tor_client, onion))["status"] == "ok"
    assert tor_pids(tmp_path / "state") == []  # the node started no tor of its own
    assert node.stop() == 0
    assert tor_pids(data), "the attached tor must keep running"
    assert await unreachable(tor_client, onion)
