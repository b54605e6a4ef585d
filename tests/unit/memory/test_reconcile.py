"""Range-based reconciliation: convergence and the round bound (property tests)."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.memory.messages import Reconcile, decode, encode
from gateway.memory.reconcile import Reconciler, SortedItems
from gateway.memory.reconcile.fingerprint import fingerprint
from gateway.memory.reconcile.items import separating_bound


def max_turns(n: int, buckets: int, threshold: int) -> int:
    """Bound on one-way messages (see docs/PROTOCOL-memory.md, "Round bound").

    Along any range each side splits at most L + 1 times, L = floor(log_B(N / (T - 1)));
    then one id list, the settling reply, and the answer to its Want.
    """
    levels = math.floor(math.log(max(n, 1) / (threshold - 1), buckets)) if n >= threshold else -1
    return 2 * (levels + 1) + 3


def reconcile(
    a_items: list[tuple[int, bytes]],
    b_items: list[tuple[int, bytes]],
    buckets: int = 16,
    threshold: int = 32,
) -> tuple[SortedItems, SortedItems, int]:
    """Run two reconcilers wired directly; every message goes through the wire codec."""
    a, b = SortedItems(a_items), SortedItems(b_items)
    by_id = {i: t for t, i in a_items + b_items}
    sides = [Reconciler(a, buckets=buckets, idlist_threshold=threshold),
             Reconciler(b, buckets=buckets, idlist_threshold=threshold)]  # fmt: skip
    parts = sides[0].initiate()
    turns, sender = 1, 0
    wanted_last = False
    while parts:
        msg = decode(encode(Reconcile("default", parts)))
        assert isinstance(msg, Reconcile)
        receiver = 1 - sender
        out = sides[receiver].process(msg.parts)
        mine, theirs = sides[receiver].items, sides[sender].items
        for i in out.have:
            theirs.add(by_id[i], i)
        for i in out.need:
            mine.add(by_id[i], i)
        wanted_last = bool(out.need)
        parts, sender = out.reply, receiver
        turns += 1
    return a, b, turns + int(wanted_last)


def _ids(draw: st.DrawFn, n: int, rnd: random.Random) -> list[tuple[int, bytes]]:
    spread = draw(st.sampled_from([3, 1000, 10**9]))
    return [(rnd.randrange(spread), rnd.randbytes(32)) for _ in range(n)]


@st.composite
def set_pair(draw: st.DrawFn) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    rnd = random.Random(draw(st.integers(0, 2**32)))
    common = _ids(draw, draw(st.integers(0, 3000)), rnd)
    only_a = _ids(draw, draw(st.integers(0, 60)), rnd)
    only_b = _ids(draw, draw(st.integers(0, 60)), rnd)
    return common + only_a, common + only_b


@settings(max_examples=60, deadline=None)
@given(set_pair(), st.sampled_from([(2, 4), (4, 8), (16, 32)]))
def test_random_sets_converge_within_bound(
    pair: tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]], params: tuple[int, int]
) -> None:
    buckets, threshold = params
    a_items, b_items = pair
    a, b, turns = reconcile(a_items, b_items, buckets, threshold)
    union = {i for _, i in a_items} | {i for _, i in b_items}
    assert set(a.ids(0, len(a))) == union == set(b.ids(0, len(b)))
    n = max(len(a_items), len(b_items))
    assert turns <= max_turns(n, buckets, threshold)


def test_equal_sets_finish_in_one_round_trip() -> None:
    rnd = random.Random(7)
    items = [(rnd.randrange(10**6), rnd.randbytes(32)) for _ in range(5000)]
    _, _, turns = reconcile(items, list(items))
    assert turns == 2  # fingerprints out, empty reply back


def test_disjoint_concentrated_differences() -> None:
    rnd = random.Random(8)
    a_items = [(5, rnd.randbytes(32)) for _ in range(2000)]
    b_items = [(6, rnd.randbytes(32)) for _ in range(2000)]
    a, b, turns = reconcile(a_items, b_items)
    assert len(a) == len(b) == 4000
    assert turns <= max_turns(2000, 16, 32)


def test_fingerprint_is_order_free_and_counts() -> None:
    ids = [bytes([i]) * 32 for i in range(5)]
    assert fingerprint(ids) == fingerprint(list(reversed(ids)))
    assert fingerprint(ids) != fingerprint(ids[:4])
    assert len(fingerprint(ids)) == 16


def test_separating_bound_is_minimal_and_between() -> None:
    rnd = random.Random(9)
    for _ in range(500):
        prev = (rnd.randrange(3), rnd.randbytes(32))
        curr = (rnd.randrange(3), rnd.randbytes(32))
        if prev >= curr:
            prev, curr = curr, prev
        if prev == curr:
            continue
        bound = separating_bound(prev, curr)
        assert prev < bound.key <= curr
