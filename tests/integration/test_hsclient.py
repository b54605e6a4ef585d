"""A rendezvous that never comes, on the private Tor network: found, closed, and the onion
reached again (gateway.tor.hsclient, what a node does after a failed dial).

A client's stream stalls the way it does when a contact's node restarts: the service's
tor is stopped (SIGSTOP) while its introduction circuits stand, so the introduction point
acknowledges the client's INTRODUCE1 and the client's rendezvous circuit waits; then that
tor is killed and the node started again with the same key, publishing a new descriptor.
Nobody will ever join the waiting circuit, and the stream stays on it until SOCKS gives
up. :func:`refresh` closes it and fetches the descriptor again: the same stream reaches
the new service.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
import python_socks
from python_socks.async_.asyncio import Proxy

from gateway.testnet import TestNetwork, TorClient
from gateway.tor.controller import TorControl
from gateway.tor.hsclient import refresh, unjoined_circuits
from tests.integration.support import Node, make_node, tor_pids
from tests.integration.test_run_node import reach

pytestmark = pytest.mark.integration

REQUEST = b"GET /health HTTP/1.0\r\n\r\n"


async def get_health(client: TorClient, onion: str, isolation: str) -> bytes:
    """GET /health over a new circuit (SOCKS credentials ``isolation``), waiting up to 100 s."""
    proxy = Proxy(python_socks.ProxyType.SOCKS5, "127.0.0.1", client.socks_port,
                  username=isolation, password="x", rdns=True)  # fmt: skip
    sock = await proxy.connect(f"{onion}.onion", 80, timeout=100)
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(REQUEST)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 20)
    finally:
        writer.close()


async def waiting_circuits(control: TorControl, onion: str, timeout: float = 30) -> list[str]:
    """Our circuits whose rendezvous for ``onion`` waits on the service, once one does."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = await control.get_info("circuit-status")
        found = [
            line.split()[0]
            for line in status.splitlines()
            if "HS_STATE=HSCR_ESTABLISHED_WAITING" in line and f"REND_QUERY={onion}" in line
        ]
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"no rendezvous circuit waits on {onion}")


async def test_a_stalled_rendezvous_is_closed_and_the_restarted_onion_reached(
    tmp_path: Path, testnet: TestNetwork, tor_client: TorClient, nodes: list[Node]
) -> None:
    config = make_node(tmp_path, testnet)
    first = Node(config)
    nodes.append(first)
    onion = (await asyncio.to_thread(first.next_address)).removesuffix(".onion")
    await reach(tor_client, f"{onion}.onion")
    [service_tor] = tor_pids(config.parent)
    control = TorControl(await asyncio.to_thread(tor_client.connect))

    os.kill(service_tor, signal.SIGSTOP)
    stalled = asyncio.create_task(get_health(tor_client, onion, "stall"))
    try:
        waiting = await waiting_circuits(control, onion)
    finally:
        first.proc.kill()
        os.kill(service_tor, signal.SIGKILL)  # a stopped process dies too
    await asyncio.to_thread(first.proc.wait)

    again = Node(config)  # the same key: the same onion, a new descriptor
    nodes.append(again)
    assert (await asyncio.to_thread(again.next_address)).removesuffix(".onion") == onion
    with pytest.raises(TimeoutError):  # published, and still the stream waits
        await asyncio.wait_for(asyncio.shield(stalled), 3)
    status = await control.get_info("circuit-status")
    assert set(waiting) <= set(unjoined_circuits(status, onion))

    t0 = time.monotonic()
    assert await refresh(control, onion) >= 1
    reply = await asyncio.wait_for(stalled, 60)
    assert reply.split(b"\r\n", 1)[0].endswith(b" 200 OK"), reply[:200]
    assert time.monotonic() - t0 < 60
    status = await control.get_info("circuit-status")
    assert not set(waiting) & {line.split()[0] for line in status.splitlines() if line}
    # a joined rendezvous (a stream open on it) is left alone by a refresh
    assert (await reach(tor_client, f"{onion}.onion"))["status"] == "ok"
