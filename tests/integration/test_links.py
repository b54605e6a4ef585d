"""Peer links on the private Tor network: contacts, refusals, padding on the wire, cover traffic."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import python_socks
from python_socks.async_.asyncio import Proxy

from gateway.config.schema import PaddingMode
from gateway.session.padding import is_allowed_record_size
from gateway.testnet import TestNetwork, TorClient
from tests.integration.capture import LoopbackCapture, record_times, records
from tests.integration.support import (
    Node,
    api,
    gateway_cli,
    inbox_texts,
    make_node,
    pair,
    peer,
    wait_for,
)

MODES = {
    "standard": PaddingMode.PADME_CELLS,
    "high": PaddingMode.BUCKETS,
    "paranoid": PaddingMode.FIXED,
}
#: the constant-rate interval at PARANOID (gateway.link.cover defaults)
PARANOID_INTERVAL = 0.5


def runtime(config: Path) -> dict[str, object]:
    """The running node's node.json (its state dir is named after the config)."""
    data: dict[str, object] = json.loads((config.parent / config.stem / "node.json").read_text())
    return data


def front_port(config: Path) -> int:
    return int(str(runtime(config)["front_port"]))


def start(tmp_path: Path, testnet: TestNetwork, level: str, names: list[str], nodes: list[Node]):
    configs = {n: make_node(tmp_path, testnet, level, name=n) for n in names}
    for name in names:
        node = Node(configs[name])
        nodes.append(node)
        node.next_address()
    return configs


def paced(times: Iterable[float]) -> list[float]:
    """Record times from the first paced one: the handshake and HELLO records go out at once."""
    found = list(times)
    for i, (a, b) in enumerate(itertools.pairwise(found)):
        if b - a >= 0.6 * PARANOID_INTERVAL:
            return found[i + 1 :]
    return []


async def socks_connect(client: TorClient, onion: str) -> None:
    proxy = Proxy(python_socks.ProxyType.SOCKS5, "127.0.0.1", client.socks_port, rdns=True)
    sock = await proxy.connect(onion, 80, timeout=45)
    sock.close()


@pytest.mark.parametrize("level", ["standard", "high", "paranoid"])
def test_contacts_exchange_and_a_stranger_is_refused(
    level: str, tmp_path: Path, testnet: TestNetwork, tor_client: TorClient, nodes: list[Node]
) -> None:
    cfg = start(tmp_path, testnet, level, ["a", "b", "c"], nodes)
    ports = {front_port(cfg["a"]), front_port(cfg["b"])}
    with LoopbackCapture(ports) as capture:
        invite = pair(cfg["b"], cfg["a"], "bob")
        for i in range(3):
            api(cfg["a"], "POST", "/api/v1/messages", {"to": "bob", "text": f"a->b {i}"})
        wait_for(lambda: len(inbox_texts(cfg["b"])) == 3, 90, "b's inbox")
        alice_id = api(cfg["b"], "GET", "/api/v1/peers")["peers"][0]["identity"]
        api(
            cfg["b"],
            "POST",
            "/api/v1/messages",
            {"to": alice_id, "text": "b->a, with a " + "x" * 3000},
        )
        wait_for(lambda: inbox_texts(cfg["a"]), 90, "a's inbox")
        time.sleep(3 if level == "paranoid" else 0.5)
    assert sorted(inbox_texts(cfg["b"])) == [f"a->b {i}" for i in range(3)]
    assert inbox_texts(cfg["a"]) == ["b->a, with a " + "x" * 3000]

    # every record between each node and its tor has a size the level allows
    mode = MODES[level]
    seen = 0
    for port in ports:
        for stream in capture.streams_from(port) + capture.streams_to(port):
            data = stream.data()
            if stream.dst_port == port and data.startswith(b"PROXY "):
                data = data[data.index(b"\r\n") + 2 :]  # tor's circuit id line
            sizes = records(data)
            seen += len(sizes)
            assert all(is_allowed_record_size(mode, s) for s in sizes), (level, sizes[:20])
    assert seen >= 8

    if level == "paranoid":  # constant rate: one record per interval, real or dummy
        gaps: list[float] = []
        for stream in (s for p in ports for s in capture.streams_from(p)):
            times = paced(t for t, _ in record_times(stream))
            if len(times) < 3:
                continue
            # the count of records depends only on the time elapsed, never on the traffic
            expected = (times[-1] - times[0]) / PARANOID_INTERVAL + 1
            assert abs(len(times) - expected) <= 2, (len(times), expected)
            gaps += [b - a for a, b in itertools.pairwise(times)]
        assert len(gaps) >= 10, gaps
        near = [g for g in gaps if abs(g - PARANOID_INTERVAL) <= 0.4 * PARANOID_INTERVAL]
        assert len(near) >= 0.8 * len(gaps), gaps  # late ticks catch up (bounded): a few short
        assert abs(statistics.median(gaps) - PARANOID_INTERVAL) < 0.05, gaps

    # C got hold of the (used) invite: B refuses it, and C never pairs
    gateway_cli(cfg["c"], "contacts", "add", invite, "--nickname", "bob")
    b_counters = lambda: api(cfg["b"], "GET", "/api/v1/status")["link_counters"]  # noqa: E731
    wait_for(lambda: b_counters().get("handshake_HandshakeError", 0) >= 1, 120,
        "b refusing c",
    )  # fmt: skip
    assert peer(cfg["c"], "bob")["state"] == "pending"
    assert not peer(cfg["c"], "bob")["online"]
    assert len(api(cfg["b"], "GET", "/api/v1/peers")["peers"]) == 1  # only a

    onion = str(runtime(cfg["b"])["onion"])
    if level == "paranoid":
        # a tor client without a client-auth key cannot even decrypt b's descriptor
        with pytest.raises((python_socks.ProxyError, python_socks.ProxyTimeoutError)):
            asyncio.run(socks_connect(tor_client, onion))
    else:
        asyncio.run(socks_connect(tor_client, onion))

    # and the contacts still talk
    api(cfg["a"], "POST", "/api/v1/messages", {"to": "bob", "text": "still here"})
    wait_for(lambda: "still here" in inbox_texts(cfg["b"]), 90, "delivery after c")

    # `gateway peers` shows the link up with the level's padding, and nothing left queued
    # (the ack is on its way; a link that dropped meanwhile is dialed again: give it time)
    def peers_shown() -> str:
        out = gateway_cli(cfg["a"], "peers")
        return out if "on (" in out and "queued" not in out else ""

    peers_out = wait_for(peers_shown, 60, "bob shown online with nothing queued")
    assert "bob" in peers_out and mode.value in peers_out
    assert peer(cfg["a"], "bob")["queued"] == 0

    # cover traffic: none at standard; FRONT bursts at high, a constant rate at paranoid
    def dummies() -> int:
        return sum(
            int(p["dummies"])
            for c in (cfg["a"], cfg["b"])
            for p in api(c, "GET", "/api/v1/peers")["peers"]
        )

    if level == "standard":
        assert dummies() == 0
    else:
        wait_for(lambda: dummies() > 0, 90, "dummy records")


def test_removing_a_contact_cuts_the_link(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> None:
    cfg = start(tmp_path, testnet, "standard", ["a", "b"], nodes)
    pair(cfg["b"], cfg["a"], "bob")
    gateway_cli(cfg["a"], "contacts", "remove", "bob")
    wait_for(lambda: api(cfg["a"], "GET", "/api/v1/peers")["peers"] == [], 30, "a forgetting b")
    alice_id = api(cfg["b"], "GET", "/api/v1/peers")["peers"][0]["identity"]
    wait_for(lambda: not peer(cfg["b"], alice_id)["online"], 60, "b seeing the link go")
    time.sleep(8)  # b keeps dialing a, which refuses: it stays offline
    assert not peer(cfg["b"], alice_id)["online"]
