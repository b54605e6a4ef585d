"""Circles (PBFT among contacts) between four nodes on the private Tor network.

Four nodes, all contacts of each other, are shared by the tests of this module (in order):
(a) a circle orders 100 decisions while one member is SIGKILLed and restarted; (b) in
another circle, the member that is view 0's primary equivocates (the test-only switch
``GATEWAY_CIRCLE_TEST_EQUIVOCATE``): the others still agree and report the evidence, and
through their reputation and rank reports (every 2 s here: the test-only
``GATEWAY_CIRCLE_TEST_REPORT_INTERVAL``) put it last in the primary order; (d) a quorum
tombstone hides an entry from every member's search; (c) a member removed by the circle
stops receiving the circle's space.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.circle.messages import check_equivocation
from gateway.node.circles import EQUIVOCATE_ENV, REPORT_INTERVAL_ENV
from gateway.testnet import TestNetwork
from tests.integration.memory_support import has, memory_node, pair_as, put, start, stats
from tests.integration.support import Node, api, gateway_cli, node_identity, peer, wait_for

NAMES = ("ann", "ben", "cat", "dan")
TIMEOUT = 300.0
DECISIONS = 100
EQ_CIRCLE = "eqtest"
REPORT_SECONDS = "2"  # TEST ONLY: rank reports every 2 s instead of every 10 minutes


@dataclass
class Four:
    configs: dict[str, Path]
    keys: dict[str, str]  # name -> identity key hex
    running: dict[str, Node]
    started: list[Node]

    def restart(self, name: str) -> None:
        self.running[name] = start(self.configs[name], self.started)


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory, testnet: TestNetwork) -> Iterator[Four]:
    folder = tmp_path_factory.mktemp("circles")
    configs = {n: memory_node(folder, testnet, n) for n in NAMES}
    keys = {n: node_identity(c) for n, c in configs.items()}
    # the lowest key leads view 0 of every circle of the four: it equivocates in EQ_CIRCLE
    liar = min(NAMES, key=lambda n: keys[n])
    started: list[Node] = []
    os.environ[REPORT_INTERVAL_ENV] = REPORT_SECONDS  # read by every node (and restart) at start
    try:
        nodes: dict[str, Node] = {}
        for name in NAMES:
            if name == liar:
                os.environ[EQUIVOCATE_ENV] = EQ_CIRCLE  # TEST ONLY: read by the child at start
            try:
                nodes[name] = Node(configs[name])
            finally:
                os.environ.pop(EQUIVOCATE_ENV, None)
            started.append(nodes[name])
        for node in nodes.values():
            node.next_address()
        pairs = [(a, b) for i, a in enumerate(NAMES) for b in NAMES[i + 1 :]]
        errors: list[BaseException] = []

        def pair(a: str, b: str) -> None:
            try:
                pair_as(configs[a], configs[b], b, a)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=pair, args=p) for p in pairs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(400)
        assert not errors, errors
        yield Four(configs, keys, nodes, started)
    finally:
        os.environ.pop(REPORT_INTERVAL_ENV, None)
        for node in started:
            if node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait()
            print(f"--- node {node.config.name}: last log lines", *node.stderr[-40:], sep="\n")


def circles(config: Path) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in api(config, "GET", "/api/v1/circles")["circles"]}


def status(config: Path, circle: str) -> dict[str, Any]:
    reply: dict[str, Any] = api(config, "GET", f"/api/v1/circles/{circle}")
    return reply


def log(config: Path, circle: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = api(config, "GET", f"/api/v1/circles/{circle}/log")["entries"]
    return entries


def propose(config: Path, circle: str, body: dict[str, Any]) -> None:
    api(config, "POST", f"/api/v1/circles/{circle}/proposals", body)


def make_circle(four: Four, creator: str, name: str) -> str:
    """``creator`` makes a circle of the four; the others join the genesis it sent; its id."""
    others = [n for n in NAMES if n != creator]
    made = api(four.configs[creator], "POST", "/api/v1/circles", {"name": name, "members": others})
    cid = str(made["id"])
    for other in others:
        config = four.configs[other]
        wait_for(lambda c=config: cid in circles(c), TIMEOUT, f"{other} to get the genesis")
        assert circles(config)[cid]["status"] == "pending"
        gateway_cli(config, "circle", "join", cid[:16], "--name", name)
        assert circles(config)[cid]["status"] == "joined"
    return cid


def answers(config: Path, circle: str) -> int:
    return len(status(config, circle).get("answers", []))


def round_id(i: int) -> str:
    return hashlib.sha256(b"circle round %d" % i).hexdigest()


def test_a_circle_orders_100_decisions_across_a_sigkill(four: Four) -> None:
    cid = make_circle(four, "ann", "main")
    victim = max(NAMES, key=lambda n: four.keys[n])  # not view 0's primary
    live = [n for n in NAMES if n != victim]
    for i in range(DECISIONS):
        if i == 30:
            four.running[victim].stop(signal.SIGKILL)  # mid-run, no goodbye
        if i == 70:
            four.restart(victim)
        proposers = NAMES if i < 30 or i >= 70 else live
        proposer = proposers[i % len(proposers)]
        propose(four.configs[proposer], cid, {
            "kind": "record-answer", "round_id": round_id(i), "answer": f"answer {i}",
        })  # fmt: skip

    def settled() -> bool:
        views = [status(four.configs[n], cid) for n in NAMES]
        return all(len(v["answers"]) == DECISIONS for v in views) and (
            len({(v["replica"]["last_executed"], v["replica"]["state_digest"]) for v in views}) == 1
        )

    wait_for(settled, TIMEOUT, f"{DECISIONS} decisions executed alike on all four")
    logs = {n: log(four.configs[n], cid) for n in NAMES}
    key = [(e["seq"], e["kind"], e["decision"]) for e in logs[live[0]]]
    for n in live[1:]:
        assert [(e["seq"], e["kind"], e["decision"]) for e in logs[n]] == key, n
    # the members' rank reports are ordered among the answers
    assert {kind for _, kind, _ in key} <= {"record_answer", "rank_report"}
    answered = [e for e in logs[live[0]] if e["kind"] == "record_answer"]
    assert len(answered) == DECISIONS
    assert {e["decision"]["round_id"] for e in answered} == {round_id(i) for i in range(DECISIONS)}
    # the restarted member: what it executed itself is the others' log at those seqs
    theirs = {s: (k, d) for s, k, d in key}
    for e in logs[victim]:
        if e["kind"] != "state_transfer":
            assert theirs[e["seq"]] == (e["kind"], e["decision"]), e
    text = gateway_cli(four.configs[live[0]], "circle", "log", "main")
    assert text.count("record_answer") == DECISIONS


def test_an_equivocating_primary_is_caught_and_the_others_agree(four: Four) -> None:
    liar = min(NAMES, key=lambda n: four.keys[n])
    honest = [n for n in NAMES if n != liar]
    cid = make_circle(four, liar, EQ_CIRCLE)  # the liar's own name for it arms the switch
    for i in range(6):
        propose(four.configs[honest[i % 3]], cid, {
            "kind": "record-answer", "round_id": round_id(1000 + i), "answer": "eq",
        })  # fmt: skip
    wait_for(
        lambda: all(answers(four.configs[n], cid) == 6 for n in honest),
        TIMEOUT,
        "the honest members to execute the 6 decisions",
    )
    logs = [
        [(e["seq"], e["kind"], e["decision"]) for e in log(four.configs[n], cid)] for n in honest
    ]
    # rank reports keep coming: the logs agree as far as all three went
    common = min(max(seq for seq, _, _ in entries) for entries in logs)
    logs = [[e for e in entries if e[0] <= common] for entries in logs]
    assert logs[0] == logs[1] == logs[2]
    assert all(kind in ("record_answer", "rank_report") for _, kind, _ in logs[0])  # not forged
    reports = [
        f
        for n in honest
        for f in status(four.configs[n], cid)["faults"]
        if f["kind"] == "equivocation" and f["member"] == four.keys[liar]
    ]
    assert reports, "no honest member reported the equivocation"
    proven = [f for f in reports if f["detail"].startswith("two PRE-PREPAREs")]
    assert proven, reports
    # the evidence is two PRE-PREPAREs the liar signed for one slot: anyone can check it
    circle_id, signer, view, _ = check_equivocation(bytes.fromhex(proven[0]["evidence"]))
    assert (circle_id.hex(), signer.hex(), view) == (cid, four.keys[liar], 0)
    # and the fault reached the reputation of the liar on a node that saw it
    witness = next(
        n for n in honest if any(f in reports for f in status(four.configs[n], cid)["faults"])
    )
    wait_for(
        lambda: peer(four.configs[witness], liar)["reputation"]["pbft_faults"].get("equivocation"),
        60,
        f"{witness}'s reputation of {liar} to count the equivocation",
    )

    # the liar's view is over: every honest member moved on and votes in the new view, also
    # one that caught up by state transfer past the NEW-VIEW's base (PROTOCOL-circles §6)
    def in_new_view() -> bool:
        replicas = [status(four.configs[n], cid)["replica"] for n in honest]
        return all(r["view"] >= 1 and r["active"] for r in replicas)

    wait_for(in_new_view, TIMEOUT, f"{', '.join(honest)} active in a view after the liar's")
    # the honest members now rank the liar last (rank 3: caught equivocating) and report
    # it; their reports commit and, from the next checkpoint boundary on (the primary pads
    # the block with null requests), the liar is last in every honest member's order
    wait_for(
        lambda: all(
            status(four.configs[n], cid)["replica"]["order"][-1] == four.keys[liar] for n in honest
        ),
        TIMEOUT,
        f"{liar} last in the primary order on {', '.join(honest)}",
    )
    for n in honest:
        replica = status(four.configs[n], cid)["replica"]
        assert replica["ranks"][four.keys[liar]] == 3
        assert max(replica["ranks"][four.keys[h]] for h in honest) < 3
        assert replica["primary"] == replica["order"][replica["view"] % 4]
    reporters = {
        e["proposer"] for e in log(four.configs[honest[0]], cid) if e["kind"] == "rank_report"
    }
    assert len(reporters & {four.keys[n] for n in honest}) >= 2  # a median of honest reports
    text = gateway_cli(four.configs[honest[0]], "circle", "status", EQ_CIRCLE)
    line = next(x for x in text.splitlines() if x.startswith("primary order: "))
    assert line.endswith(f"{liar} (rank 3)"), line
    # and the circle goes on under the new order
    propose(four.configs[honest[1]], cid, {
        "kind": "record-answer", "round_id": round_id(1100), "answer": "after",
    })  # fmt: skip
    wait_for(
        lambda: all(answers(four.configs[n], cid) == 7 for n in honest),
        TIMEOUT,
        "a decision under the new primary order",
    )


def test_a_quorum_tombstone_leaves_every_members_search(four: Four) -> None:
    cid = next(c for c, v in circles(four.configs["ann"]).items() if v["name"] == "main")
    entry = put(four.configs["cat"], "the zebracorn grazes behind the mill", topic="zoo")["id"]
    for n in NAMES:
        wait_for(lambda c=four.configs[n]: has(c, entry), TIMEOUT, f"{n} to receive the entry")

    def found(name: str) -> bool:
        out = gateway_cli(four.configs[name], "memory", "search", "zebracorn", "--mode", "keyword")
        return entry[:16] in out

    assert all(found(n) for n in NAMES)
    gateway_cli(four.configs["dan"], "circle", "propose", "main", "tombstone", entry)
    wait_for(lambda: not any(found(n) for n in NAMES), TIMEOUT, "the entry to leave all searches")
    for n in NAMES:
        assert entry in status(four.configs[n], cid)["tombstones"]


def test_a_removed_member_stops_receiving_the_circles_space(four: Four) -> None:
    cid = next(c for c, v in circles(four.configs["ann"]).items() if v["name"] == "main")
    gone = "dan"
    gateway_cli(four.configs["ben"], "circle", "propose", "main", "set-space", "team", "open")
    wait_for(
        lambda: all(
            any(s["name"] == "team" for s in status(four.configs[n], cid)["spaces"]) for n in NAMES
        ),
        TIMEOUT,
        "the team space on all four",
    )
    first = put(four.configs["ann"], "team note before", space="team")["id"]
    for n in NAMES:
        wait_for(lambda c=four.configs[n]: has(c, first), TIMEOUT, f"{n} to receive team note 1")
    propose(four.configs["cat"], cid, {"kind": "remove-member", "member": gone})
    stayed = [n for n in NAMES if n != gone]
    wait_for(
        lambda: all(
            four.keys[gone] not in status(four.configs[n], cid)["replica"]["config"] for n in stayed
        ),
        TIMEOUT,
        f"{gone} out of the circle's configuration",
    )
    second = put(four.configs["ann"], "team note after", space="team")["id"]
    for n in stayed:
        wait_for(lambda c=four.configs[n]: has(c, second), TIMEOUT, f"{n} to receive team note 2")
    # a full sync each way between the writer and the removed node, after the write
    after = time.time()

    def synced_since(a: str, b: str) -> bool:
        return float(stats(four.configs[a])["last_sync"].get(four.keys[b], 0)) > after

    wait_for(
        lambda: synced_since(gone, "ann") and synced_since("ann", gone),
        TIMEOUT,
        f"ann and {gone} to sync both ways after the write",
    )
    assert has(four.configs[gone], first) and not has(four.configs[gone], second)
    # and the circle goes on without it
    propose(
        four.configs["ben"],
        cid,
        {"kind": "record-answer", "round_id": round_id(5000), "answer": "x"},
    )
    wait_for(
        lambda: all(answers(four.configs[n], cid) == DECISIONS + 1 for n in stayed),
        TIMEOUT,
        "a decision of the three",
    )
