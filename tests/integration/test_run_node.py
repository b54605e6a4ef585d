"""``gateway run`` on the private Tor network: real tor, real stem, real SOCKS.

Each node runs as ``python -m gateway --config ... run`` in a subprocess; it is
reached through the session's separate tor client.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp_socks import ProxyConnector
from stem import Signal

from gateway import PROTOCOL_VERSION
from gateway.api.client import _once
from gateway.config.loader import load_config
from gateway.node.runtime_file import read_runtime
from gateway.state.keys import load_api_token
from gateway.state.paths import StatePaths
from gateway.testnet import TestNetwork, TorClient
from gateway.testnet.ports import free_ports
from gateway.testnet.process import spawn
from tests.integration.conftest import require_tor
from tests.integration.support import REACH_ERRORS, Node, api, make_node, tor_pids

STATUS = "/api/v1/status"

pytestmark = pytest.mark.integration


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
    """GET /health through the client, retrying until ``deadline`` seconds pass.

    After a failed try the client drops its onion-service state (NEWNYM purges
    cached descriptors, intro-point failures and recent HSDir queries), as a
    fresh client would: after a service restarts, a descriptor with its dead
    introduction points can otherwise stick for minutes on a small network.
    """
    end = time.monotonic() + deadline
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            return await fetch_health(client, onion)
        except REACH_ERRORS as exc:
            last = exc
            await asyncio.to_thread(client.connect().signal, Signal.NEWNYM)
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
    assert body["status"] == "ok" and body["protocol"] == PROTOCOL_VERSION == 2
    assert "address" not in body
    assert tor_pids(tmp_path / "state")
    # the container's and the service's health check: the onion is published
    health = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway", "--config", str(config), "status", "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (health.returncode, health.stdout) == (0, "healthy: tor published\n"), health.stderr

    assert node.stop() == 0
    assert wait_gone(tmp_path / "state") == []
    assert await unreachable(tor_client, onion)

    again = Node(config)
    nodes.append(again)
    assert await asyncio.to_thread(again.next_address) == onion
    assert (await reach(tor_client, onion))["status"] == "ok"
    assert again.stop() == 0
    assert wait_gone(tmp_path / "state") == []


async def test_the_api_rate_limit_is_read_from_the_yaml(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> None:
    config = make_node(tmp_path, testnet)
    data = yaml.safe_load(config.read_text())
    data["api"] = {"rate_limit": 1, "burst": 4}
    config.write_text(yaml.safe_dump(data))
    node = Node(config)
    nodes.append(node)
    await asyncio.to_thread(node.next_address)
    paths = StatePaths(load_config(config).node.state_dir)
    endpoint, token = read_runtime(paths).api, load_api_token(paths)
    statuses = []
    for _ in range(10):  # one request after another, well inside a second
        status, _data, retry_after = await _once(endpoint, token, "GET", STATUS, None, 10)
        statuses.append(status)
    assert statuses[:4] == [200] * 4, statuses  # the burst
    assert statuses.count(429) >= 5, statuses  # then about one a second
    await asyncio.sleep(retry_after)
    shown = await asyncio.to_thread(api, config, "GET", "/api/v1/config")
    assert shown["config"]["api"] == {"rate_limit": 1, "burst": 4}
    assert node.stop() == 0


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
    assert "gateway: error: tor_died: tor died (tor was killed by SIGKILL)" in message
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


async def test_bootstrap_failure_exits_nonzero_and_says_why(
    tmp_path: Path, nodes: list[Node]
) -> None:
    # a private network whose tors were never started: the node's tor cannot bootstrap
    dead = TestNetwork.create(tmp_path / "dead-net", relays=1, tor_binary=require_tor())
    config = make_node(tmp_path, dead, bootstrap_timeout=8)
    node = Node(config)
    nodes.append(node)
    status = await asyncio.to_thread(node.proc.wait, 60)
    stderr = "\n".join(node.stderr)
    assert status == 1, stderr
    assert "did not bootstrap" in stderr or "bootstrap" in stderr.lower()
    assert "last phase:" in stderr
    assert wait_gone(tmp_path / "state") == []
