"""The private Tor network carries onion-service traffic end to end."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp_socks import ProxyConnector

from gateway.errors import TestnetError
from gateway.testnet import TestNetwork, TorClient, consensus, launch_client, process
from gateway.testnet.process import runs_torrc
from tests.integration.conftest import require_tor


def test_every_node_is_in_the_consensus(testnet: TestNetwork) -> None:
    status = testnet.status()
    assert status.ready
    assert status.consensus is not None
    assert status.consensus.relays == len(testnet.nodes) == 7
    assert status.consensus.hsdirs == 7
    assert status.clients_served  # each authority hands out every microdescriptor


def test_each_authority_serves_the_microdescriptors_its_consensus_names(
    testnet: TestNetwork,
) -> None:
    for auth in testnet.authorities:
        assert consensus.serves_client_view(auth.dirport, len(testnet.nodes))
        # and the check fails for a network larger than this one
        assert not consensus.serves_client_view(auth.dirport, len(testnet.nodes) + 1)


def test_client_conf_lists_the_three_authorities(testnet: TestNetwork) -> None:
    lines = testnet.client_conf.read_text().splitlines()
    assert "TestingTorNetwork 1" in lines
    auth_lines = [line for line in lines if line.startswith("DirAuthority ")]
    assert len(auth_lines) == 3
    for node in testnet.authorities:
        assert any(f"127.0.0.1:{node.dirport} {node.fingerprint}" in a for a in auth_lines)


async def test_onion_service_published_on_one_client_is_reached_from_another(
    testnet: TestNetwork, tor_client: TorClient, tmp_path: Path
) -> None:
    app = web.Application()

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello through tor")

    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    host = await asyncio.to_thread(launch_client, testnet, tmp_path / "host", owner_pid=os.getpid())
    try:
        service = await asyncio.to_thread(
            host.connect().create_ephemeral_hidden_service,
            {80: f"127.0.0.1:{port}"},
            await_publication=True,
            timeout=60,
        )
        url = f"http://{service.service_id}.onion/"
        body = await _get_with_retries(url, tor_client.socks_url)
        assert body == "hello through tor"
    finally:
        host.stop()
        await runner.cleanup()


async def _get_with_retries(url: str, socks_url: str, attempts: int = 6) -> str:
    last: Exception | None = None
    for _ in range(attempts):
        try:
            connector = ProxyConnector.from_url(socks_url, rdns=True)
            timeout = aiohttp.ClientTimeout(total=30)
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout) as http,
                http.get(url) as resp,
            ):
                return await resp.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            last = exc
            await asyncio.sleep(1)
    raise AssertionError(f"onion not reachable after {attempts} attempts: {last!r}")


def test_stop_leaves_no_tor_process(tmp_path: Path) -> None:
    network = TestNetwork.create(tmp_path / "net", relays=1, tor_binary=require_tor())
    for node in network.nodes:
        process.spawn(network.tor_binary, node.torrc_path, network.defaults_torrc, os.getpid())
    network.stop()
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    assert not [p for p in pids for n in network.nodes if runs_torrc(p, n.torrc_path)]


def test_creating_twice_in_one_directory_is_refused(testnet: TestNetwork) -> None:
    with pytest.raises(TestnetError, match="already holds a network"):
        TestNetwork.create(testnet.directory)
