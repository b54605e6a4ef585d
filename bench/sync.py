"""Memory sync benchmark: the sans-I/O core, and (``--e2e``) two nodes on a private Tor network.

Core: range reconciliation vs. a naive send-every-id sync, on synthetic 32-byte ids and
timestamps for N = 10k, 100k, 1M and d = 0, 10, 1000 differences (half only on each
side); the heads fast path on real signed entries in SQLite stores (N = 10k).

End to end (``--e2e``): two STANDARD ``gateway run`` nodes on a private Tor network; the
time for the first sync of 10,000 entries from one to the other, against a raw upload of
the same bytes over the same onion circuit. Prints JSON.

    python bench/sync.py [--quick] [--seed S]
    python bench/sync.py --e2e [--testnet DIR] [--entries N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp_socks import ProxyConnector
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nodes import BenchNode, pair, wait_until

from gateway.config.loader import load_config
from gateway.memory import messages as m
from gateway.memory.author import append_entry
from gateway.memory.reconcile import Reconciler, SortedItems
from gateway.memory.store import MemoryStore
from gateway.memory.sync import SyncSession
from gateway.state.keys import IdentityKeys
from gateway.state.paths import StatePaths
from gateway.testnet import TestNetwork

ID_PAYLOAD = 32  # bytes moved per missing item in ids-only mode (stands in for the entry)
DAY_MS = 86_400_000


def synthetic(n: int, d: int, seed: int) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """N common items plus d differences split between the two sides."""
    rnd = random.Random(seed)
    t0 = 1_700_000_000_000

    def item() -> tuple[int, bytes]:
        return (t0 + rnd.randrange(30 * DAY_MS), rnd.randbytes(32))

    common = [item() for _ in range(n)]
    only_a = [item() for _ in range(d - d // 2)]
    only_b = [item() for _ in range(d // 2)]
    return common + only_a, common + only_b


def run_reconcile(
    a_items: list[tuple[int, bytes]], b_items: list[tuple[int, bytes]]
) -> dict[str, Any]:
    """Range reconciliation: every message encoded; ids moved as 32-byte payloads."""
    t_setup = time.process_time()
    sides = [SortedItems(a_items), SortedItems(b_items)]
    for s in sides:
        s.total()  # build prefix sums
    recs = [Reconciler(s) for s in sides]
    setup = time.process_time() - t_setup
    t0 = time.process_time()
    parts = recs[0].initiate()
    turns, sent, sender, diffs = 1, 0, 0, 0
    answer_needed = False
    while True:
        sent += (
            len(m.encode(m.Reconcile("default", parts)))
            if parts
            else len(m.encode(m.Done("default")))
        )
        if not parts:
            break
        receiver = 1 - sender
        out = recs[receiver].process(parts)
        sent += len(out.have) * ID_PAYLOAD
        if out.need:
            sent += len(m.encode(m.Want("default", out.need))) + len(out.need) * ID_PAYLOAD
            answer_needed = True
        diffs += len(out.have) + len(out.need)
        parts, sender = out.reply, receiver
        turns += 1
    cpu = time.process_time() - t0
    turns += int(answer_needed)
    return {
        "round_trips": math.ceil(turns / 2),
        "one_way_messages": turns,
        "bytes": sent,
        "cpu_s": round(cpu, 4),
        "setup_cpu_s": round(setup, 4),
        "differences_found": diffs,
    }


def run_naive(a_items: list[tuple[int, bytes]], b_items: list[tuple[int, bytes]]) -> dict[str, Any]:
    """Baseline: A sends every id; B answers with what A lacks and what it wants."""
    t0 = time.process_time()
    a_ids = [i for _, i in a_items]
    sent = len(m.encode(m.Want("default", ()))) + 32 * len(a_ids)
    a_set, b_set = set(a_ids), {i for _, i in b_items}
    have = [i for i in b_set if i not in a_set]
    need = [i for i in a_ids if i not in b_set]
    sent += len(have) * ID_PAYLOAD + 32 * len(need) + 8
    turns = 2
    if need:
        sent += len(need) * ID_PAYLOAD
        turns = 3
    cpu = time.process_time() - t0
    return {
        "round_trips": math.ceil(turns / 2),
        "one_way_messages": turns,
        "bytes": sent,
        "cpu_s": round(cpu, 4),
        "differences_found": len(have) + len(need),
    }


def reconcile_matrix(sizes: list[int], diffs: list[int], seed: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        for d in diffs:
            a_items, b_items = synthetic(n, d, seed + n + d)
            rec = run_reconcile(a_items, b_items)
            base = run_naive(a_items, b_items)
            assert rec["differences_found"] == d == base["differences_found"]
            rows.append({
                "n": n, "d": d, "reconcile": rec, "naive": base,
                "bytes_ratio_vs_naive": round(rec["bytes"] / base["bytes"], 5),
                "bytes_per_difference": round(rec["bytes"] / d, 1) if d else None,
            })  # fmt: skip
            print(f"n={n} d={d} rt={rec['round_trips']} bytes={rec['bytes']}", file=sys.stderr)
    return rows


def _key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed.to_bytes(32, "big"))


def heads_fast_path(n: int, diffs: list[int]) -> list[dict[str, Any]]:
    """Real signed entries: B lacks the last d entries of the authors' chains."""
    authors = [_key(1000 + i) for i in range(10)]
    source = MemoryStore(":memory:")
    for i in range(n + max(diffs)):
        append_entry(source, authors[i % len(authors)], timestamp_ms=i, body=f"note {i}")
    raws = [e.encode() for _, e in source.all_entries()]
    rows = []
    for d in diffs:
        a, b = MemoryStore(":memory:"), MemoryStore(":memory:")
        a.insert_many(raws[: n + d])
        b.insert_many(raws[:n])
        ka, kb = _key(1), _key(2)
        pa, pb = (k.public_key().public_bytes_raw() for k in (ka, kb))
        t0 = time.process_time()
        sa = SyncSession(a, node_key=ka, peer=pb, initiator=True, now_ms=1)
        sb = SyncSession(b, node_key=kb, peer=pa, initiator=False, now_ms=1)
        flight, turns, sent, sides = sa.start(), 0, 0, [sb, sa]
        while flight:
            sent += sum(len(x) for x in flight)
            flight = [r for x in flight for r in sides[turns % 2].receive(x)]
            turns += 1
        cpu = time.process_time() - t0
        assert a.count() == b.count() == n + d
        rows.append({"n": n, "d": d, "round_trips": math.ceil(turns / 2), "one_way_messages": turns,
                     "bytes": sent, "cpu_s": round(cpu, 4)})  # fmt: skip
    return rows


# --- end to end on the private Tor network (--e2e) ----------------------------------

E2E_BODY = "benchmark note {i:05d}: " + "the quick brown fox jumps over the lazy dog " * 2
SYNC_TIMEOUT = 600.0
RAW_CHUNK = 256 << 10  # one pipelined POST per chunk: each is drained within aiohttp's linger


class E2ENode(BenchNode):
    """A node whose memory the benchmark fills and watches."""

    def peer(self, other: E2ENode) -> dict[str, Any]:
        peers = self.api("GET", "/api/v1/peers")["peers"]
        return next(p for p in peers if p["identity"] == other.identity.hex())

    def count(self) -> int:
        space = self.api("GET", "/api/v1/memory/stats")["spaces"].get("default", {})
        return int(space.get("entries", 0))


def fill(node: E2ENode, n: int) -> int:
    """Write ``n`` signed entries into the stopped node's store; their encoded bytes."""
    key = IdentityKeys.load(StatePaths(node.state)).signing
    total = 0
    with MemoryStore(StatePaths(node.state).memory_db) as store:
        t0 = int(time.time() * 1000) - n
        for i in range(n):
            entry = append_entry(store, key, timestamp_ms=t0 + i, body=E2E_BODY.format(i=i))
            total += len(entry.encode())
        assert store.count("default") == n
    return total


async def raw_upload(socks_port: int, onion: str, port: int, total: int) -> dict[str, float]:
    """``total`` bytes as ``POST /health`` bodies of 256 KiB to ``onion`` through tor's SOCKS
    port without credentials (as a STANDARD link dials, so over the same circuit), one after
    the other on a keep-alive connection; timed from the first byte to the last answer."""
    connector = ProxyConnector.from_url(f"socks5://127.0.0.1:{socks_port}", rdns=True)
    chunks = [min(RAW_CHUNK, total - off) for off in range(0, total, RAW_CHUNK)]
    url = f"http://{onion}:{port}/health"
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        async with http.get(url) as resp:  # the stream is open (the circuit is reused)
            assert resp.status == 200
        connected = time.monotonic()
        for size in chunks:
            async with http.post(url, data=os.urandom(size)) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"raw transfer: HTTP {resp.status}")
                await resp.read()
        done = time.monotonic()
    return {"seconds": done - connected, "connect_seconds": connected - started}


def e2e_run(network: TestNetwork, folder: Path, n: int) -> dict[str, Any]:
    x, y = E2ENode(folder, network, "x"), E2ENode(folder, network, "y")
    # the link kept is the one dialed by the smaller identity key: make that the source, so
    # the entries flow from the circuit's client side, like the raw upload below
    a, b = sorted((x, y), key=lambda node: node.identity)
    try:
        for node in (a, b):
            node.start()
        pair(a, b)
        for node in (a, b):
            node.stop()
        print(f"e2e: paired; writing {n} entries into {a.name}", file=sys.stderr)
        entry_bytes = fill(a, n)
        b.start()  # the empty node first: the source dials it as soon as it is up
        a.start(wait=False)  # the link may open before its address is printed
        link_up = wait_until(lambda: b.peer(a)["online"], SYNC_TIMEOUT, "the link")
        synced = wait_until(lambda: b.count() >= n, SYNC_TIMEOUT, f"{b.name} holding {n}")
        at_b, at_a = b.peer(a), a.peer(b)
        print(f"e2e: synced {synced - link_up:.2f} s after the link opened", file=sys.stderr)
        dialer, service = (a, b) if at_b["direction"] == "in" else (b, a)
        socks = dialer.runtime().socks_port
        assert socks is not None
        port = int(load_config(service.config).onion.virtual_port)
        raw = asyncio.run(raw_upload(socks, service.runtime().onion, port, entry_bytes))
    finally:
        for node in (a, b):
            node.stop()
    sync_s = synced - link_up
    return {
        "entries": n,
        "bytes": entry_bytes,
        "sync_seconds": round(sync_s, 3),
        "sync_from_source_start_seconds": round(synced - a.started_at, 3),
        "raw_seconds": round(raw["seconds"], 3),
        "raw_connect_seconds": round(raw["connect_seconds"], 3),
        "ratio": round(sync_s / raw["seconds"], 3),
        "link_dialed_by": "source" if dialer is a else "sink",
        "raw_direction": f"{dialer.name}->{service.name} (upload, same circuit as the link)",
        "source_wire_bytes": at_a["wire_bytes"],
        "source_payload_bytes": at_a["payload_bytes"],
        "sink_wire_bytes": at_b["wire_bytes"],
        "sink_payload_bytes": at_b["payload_bytes"],
        "wire_bytes_per_entry_byte": round(
            (at_a["wire_bytes"] + at_b["wire_bytes"]) / entry_bytes, 3
        ),
    }


def e2e(testnet: Path | None, n: int) -> dict[str, Any]:
    """Time to first sync ``n`` entries between two nodes vs. a raw upload of their bytes."""
    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    network = TestNetwork.load(testnet) if testnet else TestNetwork.create(folder / "net")
    try:
        if testnet is None:
            network.start(owner_pid=os.getpid())
        return e2e_run(network, folder, n)
    finally:
        if testnet is None:
            network.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--e2e", action="store_true", help="only the end-to-end run on a Tor network")
    ap.add_argument("--testnet", type=Path, help="--e2e: reuse a running private network")
    ap.add_argument("--entries", type=int, default=10_000, help="--e2e: entries to sync")
    args = ap.parse_args()
    if args.e2e:
        print(json.dumps({"benchmark": "memory-sync-e2e", **e2e(args.testnet, args.entries)},
                         indent=2))  # fmt: skip
        return
    sizes = [2_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000]
    diffs = [0, 10, 1000]
    rows = reconcile_matrix(sizes, diffs, args.seed)
    fast = heads_fast_path(1_000 if args.quick else 10_000, diffs)
    big = max(sizes)
    target_row = next(r for r in rows if r["n"] == big and r["d"] == 10)
    result = {
        "benchmark": "memory-sync-core",
        "params": {"buckets": 16, "idlist_threshold": 32, "quick": args.quick},
        "reconcile_vs_naive": rows,
        "heads_fast_path": fast,
        "targets": {
            "d0_one_round_trip": all(
                r["reconcile"]["round_trips"] == 1 for r in rows if r["d"] == 0
            )
            and all(r["round_trips"] == 1 for r in fast if r["d"] == 0),
            f"n{big}_d10_round_trips<=4": target_row["reconcile"]["round_trips"] <= 4,
            f"n{big}_d10_bytes_per_difference<=3072": target_row["bytes_per_difference"] <= 3072,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
