"""Memory sync benchmark (core half): range reconciliation vs. a naive send-every-id sync.

Reconciliation runs on synthetic 32-byte ids and timestamps for N = 10k, 100k, 1M and
d = 0, 10, 1000 differences (half only on each side). The heads fast path runs on real
signed entries in SQLite stores (N = 10k). Prints JSON.

    python bench/sync.py [--quick] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.memory import messages as m
from gateway.memory.author import append_entry
from gateway.memory.reconcile import Reconciler, SortedItems
from gateway.memory.store import MemoryStore
from gateway.memory.sync import SyncSession

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
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
