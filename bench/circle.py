"""Circles (PBFT): messages and CPU per decision in the simulator; latency over Tor.

    .venv/bin/python bench/circle.py [--sizes 4 7 10 16 25 32 100] [--decisions 50]
    .venv/bin/python bench/circle.py --e2e [--sizes 4 7 10] [--decisions 30] [--testnet DIR]

Default (seconds, no network): real replicas on an in-process FIFO network, every message
delivered. For each size n the first member proposes D decisions one after another, each
run to execution on every member; reported: messages per decision (one per recipient) and
their ratio to n², CPU per decision, and a least-squares fit of messages = a·n². Circles
of more than 32 members (a node's limit on its links; the protocol allows 128) run
``min(D, 20)`` decisions: at 100 members each decision is about 20,000 signed messages.

``--e2e`` (minutes): max(sizes) ``gateway run`` nodes on a private Tor network, every pair
paired (a circle's members talk to each other directly). For each n a circle of the first n
nodes; D decisions proposed one after another by the first node, each timed from the API call
to its execution on every member (polled every 50 ms). Floor, measured in the same run over
the same links and channel: one broadcast round trip, ``POST .../echo`` (the first node
sends an echo to every other member on the ``circle`` channel and answers once all replied),
timed the same way from the API call, D times. PBFT needs about two broadcast round trips
after the request (pre-prepare, prepare, commit), so a ratio near 2 is the protocol's cost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.nodes import BenchNode, pair, wait_until
from gateway.circle.decisions import (
    MAX_MEMBERS,
    RecordAnswer,
    make_genesis,
    public_bytes,
)
from gateway.circle.outputs import Committed, Send
from gateway.circle.pbft import Replica
from gateway.node.circles import LINK_MEMBERS
from gateway.testnet import TestNetwork


def decision(i: int) -> RecordAnswer:
    return RecordAnswer(hashlib.sha256(b"bench %d" % i).digest(), hashlib.sha256(b"a").digest())


# --- the simulator ---------------------------------------------------------------------


def simulate(n: int, decisions: int) -> dict[str, Any]:
    keys = [Ed25519PrivateKey.generate() for _ in range(n)]
    ids = [public_bytes(k) for k in keys]
    genesis = make_genesis(keys[0], hashlib.sha256(b"bench").digest(), ids)
    replicas = [Replica(k, genesis) for k in keys]
    index = {ident: i for i, ident in enumerate(ids)}
    queue: deque[tuple[int, int, bytes]] = deque()
    delivered = 0
    committed = [0] * n

    def handle(src: int, outputs: list[Any]) -> None:
        for out in outputs:
            if isinstance(out, Committed):
                committed[src] += 1
            elif isinstance(out, Send):
                targets = range(n) if out.to is None else [index[out.to]]
                queue.extend((src, dst, out.data) for dst in targets if dst != src)

    cpu = time.process_time()
    for i in range(decisions):
        handle(0, replicas[0].propose(decision(i), i + 1))
        while queue:
            src, dst, data = queue.popleft()
            delivered += 1
            handle(dst, replicas[dst].receive(data, ids[src], i + 1))
        assert all(c == i + 1 for c in committed), committed
    cpu = time.process_time() - cpu
    per = delivered / decisions
    return {
        "n": n,
        "decisions": decisions,
        "messages_per_decision": round(per, 1),
        "messages_over_n_squared": round(per / (n * n), 3),
        "cpu_ms_per_decision": round(cpu * 1000 / decisions, 2),
    }


def sim(sizes: Sequence[int], decisions: int) -> dict[str, Any]:
    if max(sizes) > MAX_MEMBERS:
        raise SystemExit(f"--sizes: the protocol allows at most {MAX_MEMBERS} members")
    rows = [simulate(n, decisions if n <= LINK_MEMBERS else min(decisions, 20)) for n in sizes]
    # least squares of messages = a * n^2 through the origin
    a = sum(r["messages_per_decision"] * r["n"] ** 2 for r in rows) / sum(r["n"] ** 4 for r in rows)
    return {
        "benchmark": "circle-sim",
        "checkpoint_interval": 16,
        "sizes": rows,
        "fit": f"messages per decision ~ {a:.2f} * n^2",
    }


# --- over Tor --------------------------------------------------------------------------


class CircleNode(BenchNode):
    def __init__(self, folder: Path, network: TestNetwork, name: str) -> None:
        memory = {"sync_interval": 3600, "spaces": {"default": []}}
        super().__init__(folder, network, name, {"memory": memory})


def sent(node: BenchNode, circle: str) -> int:
    return int(node.api("GET", f"/api/v1/circles/{circle}")["replica"]["messages_sent"])


def executed(node: BenchNode, circle: str) -> int:
    return len(node.api("GET", f"/api/v1/circles/{circle}")["answers"])


def e2e_size(nodes: Sequence[CircleNode], decisions: int, offset: int) -> dict[str, Any]:
    first, others = nodes[0], nodes[1:]
    name = f"bench{len(nodes)}"
    made = first.api("POST", "/api/v1/circles", {"name": name, "members": [o.name for o in others]})
    cid = made["id"]
    for o in others:
        wait_until(lambda o=o: cid in {c["id"] for c in o.api("GET", "/api/v1/circles")["circles"]},
                   300, f"{o.name} to get the genesis")  # fmt: skip
        o.api("POST", f"/api/v1/circles/{cid}/join", {"name": name})
    # a first decision sets every link's circle channel up (not timed)
    first.api("POST", f"/api/v1/circles/{cid}/proposals", _body(offset))
    for node in nodes:
        wait_until(lambda node=node: executed(node, cid) >= 1, 300, f"{node.name} warm")
    before = sum(sent(node, cid) for node in nodes)
    latencies = []
    for i in range(1, decisions + 1):
        started = time.monotonic()
        first.api("POST", f"/api/v1/circles/{cid}/proposals", _body(offset + i))
        done = 0.0
        for node in nodes:
            done = max(done, wait_until(lambda node=node, i=i: executed(node, cid) >= i + 1,
                                        300, f"{node.name} to execute {i}"))  # fmt: skip
        latencies.append(done - started)
    messages = (sum(sent(node, cid) for node in nodes) - before) / decisions
    floors = []
    for _ in range(decisions):
        started = time.monotonic()
        echo = first.api("POST", f"/api/v1/circles/{cid}/echo?timeout=60")
        if echo["seconds"] is None:
            raise RuntimeError(f"echo: no answer from {echo['missing']}")
        floors.append(time.monotonic() - started)
    floor = statistics.median(floors)
    latency = statistics.median(latencies)
    n = len(nodes)
    return {
        "n": n,
        "decisions": decisions,
        "latency_s": round(latency, 3),
        "latency_p90_s": round(sorted(latencies)[int(0.9 * (len(latencies) - 1))], 3),
        "messages_per_decision": round(messages, 1),
        "messages_over_n_squared": round(messages / (n * n), 3),
        "floor_broadcast_rtt_s": round(floor, 3),
        "floor_p90_s": round(sorted(floors)[int(0.9 * (len(floors) - 1))], 3),
        "ratio": round(latency / floor, 2) if floor else None,
    }


def _body(i: int) -> dict[str, Any]:
    return {"kind": "record-answer", "round_id": decision(i).round_id.hex(), "answer": "a"}


def e2e(testnet: Path | None, sizes: Sequence[int], decisions: int) -> dict[str, Any]:
    if min(sizes) < 1 or max(sizes) > LINK_MEMBERS:
        raise SystemExit(f"--sizes must be 1 to {LINK_MEMBERS}")
    folder = Path(tempfile.mkdtemp(prefix="bench-circle-"))
    network = TestNetwork.load(testnet) if testnet else TestNetwork.create(folder / "net")
    started = time.monotonic()
    nodes: list[CircleNode] = []
    try:
        if testnet is None:
            network.start(owner_pid=os.getpid())
        nodes = [CircleNode(folder, network, f"m{i}") for i in range(max(sizes))]
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            out = node.state.parent / f"{node.name}.out"
            wait_until(lambda out=out: out.read_text().strip().endswith(".onion"), 300,
                       f"{node.name} published")  # fmt: skip
        print("circle: all published", file=sys.stderr)
        pairs = [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :]]
        errors: list[BaseException] = []

        def pair_one(a: CircleNode, b: CircleNode) -> None:
            try:
                pair(a, b)
            except BaseException as exc:
                errors.append(exc)

        for k in range(0, len(pairs), 6):  # a few at a time: two cores, many tors
            threads = [threading.Thread(target=pair_one, args=p) for p in pairs[k : k + 6]]
            for t in threads:
                t.start()
            for t in threads:
                t.join(600)
        if errors:
            raise RuntimeError(f"pairing failed: {errors[0]}")
        print(f"circle: {len(pairs)} pairs linked", file=sys.stderr)
        rows = []
        for n in sizes:
            rows.append(e2e_size(nodes[:n], decisions, offset=n * 10_000))
            print(f"circle: {json.dumps(rows[-1])}", file=sys.stderr)
    finally:
        for node in nodes:
            node.stop()
        if testnet is None:
            network.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "benchmark": "circle-e2e",
        "level": "standard",
        "sizes": rows,
        "bench_seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--e2e", action="store_true", help="on a private Tor network (minutes)")
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--decisions", type=int, default=None)
    ap.add_argument("--testnet", type=Path, help="--e2e: reuse a running private network")
    args = ap.parse_args()
    if args.e2e:
        out = e2e(args.testnet, args.sizes or [4, 7, 10], args.decisions or 30)
    else:
        out = sim(args.sizes or [4, 7, 10, 16, 25, 32, 100], args.decisions or 50)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
