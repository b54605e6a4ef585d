"""Delivery that survives SIGKILL of either side, and garbage sent straight to an onion."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
from collections import Counter
from pathlib import Path

from gateway.link.records import PREFIX
from gateway.testnet import TestNetwork, TorClient
from tests.integration.capture import LoopbackCapture
from tests.integration.support import (
    Node,
    api,
    inbox_texts,
    make_node,
    pair,
    send_raw,
    tor_pids,
    wait_for,
)

MESSAGES = 500


def start(config: Path, nodes: list[Node]) -> Node:
    node = Node(config)
    nodes.append(node)
    node.next_address()
    return node


def paired(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> tuple[Path, Path, Node, Node]:
    """Nodes a and b, running, with b a contact of a as "bob": (a, b, a's node, b's node)."""
    a = make_node(tmp_path, testnet, name="a")
    b = make_node(tmp_path, testnet, name="b")
    node_a, node_b = start(a, nodes), start(b, nodes)
    pair(b, a, "bob")
    return a, b, node_a, node_b


def kill(node: Node, state: Path) -> None:
    """SIGKILL a node; its tor (owned through the control connection) must exit too."""
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(timeout=30)
    wait_for(lambda: not tor_pids(state), 30, "the killed node's tor to exit")


def send(config: Path, texts: list[str]) -> None:
    for text in texts:
        api(config, "POST", "/api/v1/messages", {"to": "bob", "text": text})


def assert_exactly_once(config: Path, expected: list[str], timeout: float = 300) -> None:
    wait_for(lambda: len(inbox_texts(config)) >= len(expected), timeout, "every message")
    got = Counter(inbox_texts(config))
    assert sorted(got) == sorted(expected)
    assert set(got.values()) == {1}, [t for t, n in got.items() if n > 1][:5]


def test_500_messages_arrive_once_when_the_receiver_is_killed(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> None:
    a, b, _, receiver = paired(tmp_path, testnet, nodes)
    texts = [f"msg {i:03d}" for i in range(MESSAGES)]
    send(a, texts[:150])
    kill(receiver, tmp_path / "b")  # while a is still delivering
    send(a, texts[150:400])  # queued durably while b is down
    start(b, nodes)
    send(a, texts[400:])
    assert_exactly_once(b, texts)
    # b's state survived the kill: its link resumed the stored session (when both sides
    # redial at once, the losing connection may still make a fresh session: docs/LINK.md)
    counters = api(b, "GET", "/api/v1/status")["link_counters"]
    assert counters.get("link_resumed", 0) >= 1


def test_500_messages_arrive_once_when_the_sender_is_killed(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> None:
    a, b, sender, _ = paired(tmp_path, testnet, nodes)
    texts = [f"msg {i:03d}" for i in range(MESSAGES)]
    send(a, texts[:250])
    kill(sender, tmp_path / "a")  # with messages queued, in flight and unacknowledged
    start(a, nodes)
    send(a, texts[250:])
    assert_exactly_once(b, texts)


def test_garbage_and_replays_are_counted_and_contacts_keep_talking(
    tmp_path: Path, testnet: TestNetwork, tor_client: TorClient, nodes: list[Node]
) -> None:
    a = make_node(tmp_path, testnet, name="a")
    b = make_node(tmp_path, testnet, name="b")
    start(a, nodes)
    start(b, nodes)
    runtime = json.loads((tmp_path / "b" / "node.json").read_text())
    onion, port = runtime["onion"], runtime["front_port"]
    with LoopbackCapture({port}) as capture:
        pair(b, a, "bob")
    replay = capture.streams_to(port)[0].data()  # a's real connection, sent again
    garbage = [
        replay,
        os.urandom(700),  # not even a record
        PREFIX.pack(494) + os.urandom(494),  # a handshake-sized record of noise
        PREFIX.pack(1 << 30) + os.urandom(100),  # an absurd length
        PREFIX.pack(494) + bytes([1, 0, 51]) + os.urandom(491),  # a bad Noise message 1
    ]
    replies = [asyncio.run(send_raw(tor_client, onion, g)) for g in garbage]
    assert replies == [b""] * len(garbage)  # noise and replays get no answer at all

    def rejected() -> int:
        counters = api(b, "GET", "/api/v1/status")["link_counters"]
        return sum(n for k, n in counters.items() if k.startswith("handshake_"))

    wait_for(lambda: rejected() >= len(garbage), 60, "b counting the rejections")
    send(a, ["after the garbage"])
    wait_for(lambda: "after the garbage" in inbox_texts(b), 60, "delivery after garbage")
    assert nodes[1].proc.poll() is None


def test_handshakes_are_limited_per_circuit_and_in_total(
    tmp_path: Path, testnet: TestNetwork, tor_client: TorClient, nodes: list[Node]
) -> None:
    b = make_node(tmp_path, testnet, "high", name="b")  # HIGH: tor exports circuit ids
    start(b, nodes)
    onion = json.loads((tmp_path / "b" / "node.json").read_text())["onion"]
    noise = PREFIX.pack(494) + os.urandom(494)

    def counters() -> dict[str, int]:
        found: dict[str, int] = api(b, "GET", "/api/v1/status")["link_counters"]
        return found

    for _ in range(6):  # one circuit: 3 attempts in a burst, then one per 20 s
        asyncio.run(send_raw(tor_client, onion, noise, circuit="one"))
    wait_for(lambda: counters().get("rate_limited", 0) == 3, 30, "the 4th to 6th refused")
    handshakes = sum(n for k, n in counters().items() if k.startswith("handshake_"))
    assert handshakes == 3
    asyncio.run(send_raw(tor_client, onion, noise, circuit="two"))  # another circuit
    wait_for(
        lambda: sum(n for k, n in counters().items() if k.startswith("handshake_")) == 4,
        30,
        "the other circuit's attempt handled",
    )
    assert counters()["rate_limited"] == 3


def test_a_node_restored_from_an_old_copy_re_handshakes(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> None:
    a, b, _, receiver = paired(tmp_path, testnet, nodes)
    send(a, ["before the copy"])
    wait_for(lambda: inbox_texts(b), 60, "the first message")
    old = tmp_path / "b-old.db"
    with sqlite3.connect(tmp_path / "b" / "node.db") as live, sqlite3.connect(old) as copy:
        live.backup(copy)
    send(a, ["after the copy 1", "after the copy 2"])  # b acknowledges: its session moves on
    wait_for(lambda: len(inbox_texts(b)) == 3, 60, "two more messages")
    assert receiver.stop() == 0
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / "b" / f"node.db{suffix}").unlink(missing_ok=True)
    shutil.copyfile(old, tmp_path / "b" / "node.db")  # b restored from the old copy
    os.chmod(tmp_path / "b" / "node.db", 0o600)
    start(b, nodes)
    send(a, ["after the restore"])
    wait_for(lambda: "after the restore" in inbox_texts(b), 120, "delivery after the restore")
    # the first link of the restored node made a new session: resuming the stale copy
    # would have reused message keys (later reconnections resume the new session)
    opens = api(b, "GET", "/api/v1/status")["link_opens"]
    assert opens and opens[0]["resumed"] is False, opens
