"""Backup and restore on the private Tor network.

A and B are paired; A writes memory; A is backed up while it runs, then
stopped and restored into a fresh folder with a fresh config. The restored A
has the same onion address, contacts and memory; its first link to B makes a
new session (the archive holds none), and what it writes after the restore
reaches B.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.testnet import TestNetwork
from tests.integration.memory_support import has, memory_node, pair_as, put, start
from tests.integration.support import Node, api, gateway_cli, inbox_texts, peer, wait_for

PASS_ENV = "GW_TEST_BACKUP_PASSPHRASE"


def _contacts(config: Path) -> list[tuple[str, str, str]]:
    peers: list[dict[str, Any]] = api(config, "GET", "/api/v1/peers")["peers"]
    return sorted((p["identity"], p["nickname"], p["state"]) for p in peers)


def test_a_restored_node_keeps_its_address_contacts_and_memory(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASS_ENV, "a long backup passphrase")
    a = memory_node(tmp_path, testnet, "a")
    b = memory_node(tmp_path, testnet, "b")
    node_a = Node(a)
    nodes.append(node_a)
    onion = node_a.next_address()
    start(b, nodes)
    pair_as(a, b, "bob", "alice")
    before = put(a, "written before the backup")["id"]
    wait_for(lambda: has(b, before), 120, "the first entry synced to b")
    contacts = _contacts(a)
    archive = tmp_path / "a.gwb"
    out = gateway_cli(
        a, "backup", str(archive), "--passphrase-env", PASS_ENV, "--kdf", "interactive"
    )  # while a runs
    assert onion in out
    assert node_a.stop() == 0

    fresh = tmp_path / "fresh"
    config = fresh / "a.yaml"
    gateway_cli(
        config, "restore", str(archive), "--passphrase-env", PASS_ENV,
        "--state-dir", str(fresh / "state"),
    )  # fmt: skip
    assert (fresh / "state" / "restored").exists()  # memory writes wait for a first sync
    restored = Node(config)
    nodes.append(restored)
    assert restored.next_address() == onion
    assert _contacts(config) == contacts
    assert has(config, before)
    wait_for(lambda: peer(config, "bob")["online"], 180, "the restored a linked to b")
    # the restored node's first link made a new session: the archive holds no ratchet state
    opens = api(config, "GET", "/api/v1/status")["link_opens"]
    assert opens and opens[0]["resumed"] is False, opens

    # memory writes wait until a sync brought our own chain up to date (it may have grown
    # after the backup): the link to b ran one, or this one does
    state = fresh / "state"
    gateway_cli(config, "memory", "sync", "--timeout", "60", timeout=90)
    assert not (state / "restored").exists()
    after = put(config, "written after the restore")["id"]
    wait_for(lambda: has(b, after), 120, "the entry written after the restore synced to b")
    api(config, "POST", "/api/v1/messages", {"to": "bob", "text": "hello after the restore"})
    wait_for(lambda: "hello after the restore" in inbox_texts(b), 120, "a message after restore")
