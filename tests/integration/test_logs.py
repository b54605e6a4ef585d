"""A full scenario at HIGH, logging at debug: no log line holds an onion address, a key or a
message body.

Two nodes pair by invite, exchange a direct message, share memory and run a
convergence round; then every line both nodes logged is searched for every
secret used, as given and as hex, base64 or base32.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from gateway.logs import find_leaks
from gateway.state.keys import IdentityKeys, load_api_token
from gateway.state.paths import StatePaths
from gateway.testnet import TestNetwork
from tests.integration.memory_support import has, put, start
from tests.integration.support import Node, api, gateway_cli, inbox_texts, make_node, wait_for

MESSAGE = "meet at the old mill at nine"
NOTE = "the spare key is under the blue flowerpot"
QUESTION = "Compute 6 * 7. Reply with the integer."


def high_node(tmp_path: Path, testnet: TestNetwork, name: str) -> Path:
    config = make_node(tmp_path, testnet, "high", name=name)
    data = yaml.safe_load(config.read_text())
    data["logging"] = {"level": "debug"}
    data["memory"] = {"sync_interval": 5}
    data["ai"] = {"adapters": [{"name": "s", "kind": "scripted"}], "default": "s"}
    config.write_text(yaml.safe_dump(data))
    return config


def test_no_secret_reaches_the_logs_at_high(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> None:
    a, b = high_node(tmp_path, testnet, "a"), high_node(tmp_path, testnet, "b")
    node_a, node_b = start(a, nodes), start(b, nodes)
    invite = json.loads(gateway_cli(a, "invite", "--json", "--no-qr", "--label", "bob"))["invite"]
    gateway_cli(b, "contacts", "add", invite, "--nickname", "alice")
    wait_for(lambda: _online(a, "bob") and _online(b, "alice"), 180, "the link at HIGH")
    api(a, "POST", "/api/v1/messages", {"to": "bob", "text": MESSAGE})
    wait_for(lambda: MESSAGE in inbox_texts(b), 120, "the message")
    note = put(a, NOTE, topic="secrets")["id"]
    wait_for(lambda: has(b, note), 120, "the memory entry")
    times = ("--answer-time", "30", "--review-time", "30", "--synthesis-time", "30")
    view = json.loads(gateway_cli(a, "converge", QUESTION, "--json", *times, timeout=200))
    assert view["status"] == "ok"
    peers = {p["nickname"]: p for p in api(a, "GET", "/api/v1/peers")["peers"]}
    onions = [node_a.address, node_b.address]
    secrets: list[str | bytes] = [
        *onions,
        *(o.removesuffix(".onion") for o in onions),
        peers["bob"]["identity"],
        bytes.fromhex(peers["bob"]["identity"]),
        invite,
        MESSAGE,
        NOTE,
        note,
        view["round_id"],
        *(k for n in ("a", "b") for k in _keys(tmp_path / n)),
    ]
    for node in (node_a, node_b):
        assert node.stop() == 0
    lines = [line for node in (node_a, node_b) for line in node.stderr]
    records = [json.loads(line) for line in lines if line.startswith("{")]  # structured logs
    assert len(records) > 20, "the scenario logged too little to prove anything"
    assert {r["level"] for r in records} >= {"debug", "info"}
    # every stderr line (log records, and the bootstrap progress lines) is searched
    leaks = find_leaks("\n".join(lines), secrets)
    assert leaks == [], [str(secrets[i])[:24] for i in leaks]


def _online(config: Path, name: str) -> bool:
    peers = api(config, "GET", "/api/v1/peers")["peers"]
    return any(p["nickname"] == name and p["online"] for p in peers)


def _keys(state: Path) -> list[str | bytes]:
    """Every key of a node: private and public identity and static keys, the API token."""
    paths = StatePaths(state)
    keys = IdentityKeys.load(paths)
    return [
        keys.signing.private_bytes_raw(),
        keys.static.private_bytes_raw(),
        keys.signing_public,
        keys.static_public,
        load_api_token(paths),
    ]
