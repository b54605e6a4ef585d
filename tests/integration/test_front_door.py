"""Hostile HTTP through Tor to a node's onion: answered or dropped, counted in the status,
and the node's log has no traceback and none of the sender's bytes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.testnet import TestNetwork, TorClient
from tests.integration.support import Node, api, make_node, send_raw
from tests.integration.test_run_node import reach
from tests.unit.node.test_app_hostile import HOSTILE, MARK

pytestmark = pytest.mark.integration


async def test_hostile_requests_through_tor_are_counted_not_logged(
    tmp_path: Path, testnet: TestNetwork, tor_client: TorClient, nodes: list[Node]
) -> None:
    config = make_node(tmp_path, testnet)
    node = Node(config)
    nodes.append(node)
    onion = await asyncio.to_thread(node.next_address)
    await reach(tor_client, onion)
    replies = [await send_raw(tor_client, onion, data) for data in HOSTILE]
    assert sum(r.startswith(b"HTTP/1.0 400") for r in replies) >= 5, replies
    assert (await reach(tor_client, onion))["status"] == "ok"  # still serving
    status = await asyncio.to_thread(api, config, "GET", "/api/v1/status")
    front = status["front"]
    assert front["http_error_LineTooLong"] == 1, front
    assert sum(v for k, v in front.items() if k.startswith("http_error_")) >= len(HOSTILE) - 1
    assert node.proc.poll() is None
    log = "\n".join(node.stderr)
    assert MARK.decode() not in log and "Traceback" not in log
