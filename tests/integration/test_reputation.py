"""Peer reputation on the private Tor network (docs/REPUTATION.md).

Alice pairs with Bob (an honest scripted AI), Carol (her AI sends garbage) and Dan. Alice's
``peers`` reports RTT and uptime for live contacts; a round records Carol's garbage and
lowers her score; Dan's node stops and his uptime and score fall; a round that asks for one
participant picks Bob, the best-scored reachable contact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.testnet import TestNetwork
from tests.integration.memory_support import memory_node, pair_as, start
from tests.integration.support import Node, gateway_cli, peer, wait_for
from tests.integration.test_converge import QUESTION, TIMES, with_ai

NAMES = {"b": "bob", "c": "carol", "d": "dan"}
FAULTS = {"a": "none", "b": "none", "c": "garbage", "d": "none"}


def reputation(config: Path, name: str) -> dict[str, Any]:
    got: dict[str, Any] = peer(config, name)["reputation"]
    return got


def test_peers_report_measurements_and_a_subset_round_picks_the_best(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> None:
    cfg = {n: with_ai(memory_node(tmp_path, testnet, n), f, None) for n, f in FAULTS.items()}
    started = {n: start(c, nodes) for n, c in cfg.items()}
    a = cfg["a"]
    for n in "bcd":
        pair_as(a, cfg[n], NAMES[n], "alice")

    # live contacts: RTT from pongs and uptime from the link hooks, in the API and the CLI
    for name in NAMES.values():
        wait_for(
            lambda n=name: (r := reputation(a, n))["rtt_samples"] >= 1 and r["uptime"],
            90,
            f"RTT and uptime of {name}",
        )
    bob = reputation(a, "bob")
    # (not 1: while pairing, the first link may close before the one both sides keep)
    assert bob["rtt_ewma_ms"] > 0 and bob["rtt_p50_ms"] > 0 and 0.5 < bob["uptime"] <= 1
    assert 0.0 < bob["score"] <= 1.0
    text = gateway_cli(a, "peers")
    assert "uptime" in text.splitlines()[0] and "score" in text.splitlines()[0]
    bob_line = next(line for line in text.splitlines() if line.startswith("bob"))
    assert "%" in bob_line and " ms" in bob_line, text

    # a round with everyone: Carol's garbage is a fault, Bob and Dan answer cleanly
    view = json.loads(gateway_cli(a, "converge", QUESTION, *TIMES, "--json", timeout=240))
    assert view["status"] == "ok", view
    assert ("carol", "garbage") in {(f["name"], f["kind"]) for f in view["faults"]}
    wait_for(
        lambda: (
            reputation(a, "carol")["round_faults"].get("garbage", 0) >= 1
            and reputation(a, "bob")["clean"].get("round") == 1
        ),
        30,
        "the round's faults and clean answers in the reputation",
    )
    assert reputation(a, "bob")["score"] > reputation(a, "carol")["score"]
    assert reputation(a, "dan")["round_faults"] == {}

    # Dan's node stops: his link goes down, then his uptime and score fall
    before = reputation(a, "dan")
    assert started["d"].stop() == 0
    wait_for(lambda: not peer(a, "dan")["online"], 90, "dan offline at alice's")
    wait_for(
        lambda: (
            (r := reputation(a, "dan"))["uptime"] < before["uptime"] - 0.02
            and r["score"] < before["score"]
        ),
        60,
        "dan's uptime and score falling",
    )
    dan_line = next(line for line in gateway_cli(a, "peers").splitlines() if "dan" in line)
    assert "offline" in dan_line

    # one participant asked for: Bob (Dan scored well but is unreachable, Carol faulted)
    ids = {n: peer(a, NAMES[n])["identity"] for n in "bc"}
    assert reputation(a, "bob")["score"] > reputation(a, "carol")["score"]
    view = json.loads(
        gateway_cli(a, "converge", QUESTION, *TIMES, "--participants", "1", "--json", timeout=240)
    )
    chosen = {p["id"] for p in view["participants"]} - {view["asker"]}
    assert chosen == {ids["b"]}, view["participants"]
    assert view["subset"] == 1 and view["status"] == "ok", view
