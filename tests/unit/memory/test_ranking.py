"""Score fusion (convex and reciprocal rank), filters, modes and keyword terms (pure functions)."""

from __future__ import annotations

import pytest

from gateway.errors import EntryError
from gateway.memory.author import append_entry
from gateway.memory.ranking import RRF_K, Filters, Mode, convex, keyword_terms, rrf
from gateway.memory.store import MemoryStore

from .helpers import key_from, pub


def test_rrf_sums_reciprocal_ranks_and_orders_by_score() -> None:
    fused = rrf({"keyword": [b"a", b"b", b"c"], "semantic": [b"c", b"a"]})
    scores = {i: s for i, s, _ in fused}
    assert scores[b"a"] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))
    assert scores[b"c"] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert scores[b"b"] == pytest.approx(1 / (RRF_K + 2))
    assert [i for i, _, _ in fused] == [b"a", b"c", b"b"]
    assert fused[0][2] == {"keyword": 1, "semantic": 2}


def test_rrf_ties_break_by_id_and_a_repeated_id_counts_once() -> None:
    fused = rrf({"keyword": [b"z", b"z"], "semantic": [b"y"]})
    assert [i for i, _, _ in fused] == [b"y", b"z"]  # same score 1/61: by id
    assert fused[1][1] == pytest.approx(1 / (RRF_K + 1))


def test_rrf_of_nothing_is_nothing() -> None:
    assert rrf({"keyword": [], "semantic": []}) == []


def test_convex_scales_each_list_to_0_1_and_weighs_them() -> None:
    keyword = [(b"a", 9.0), (b"b", 5.0), (b"c", 1.0)]
    semantic = [(b"c", 0.8), (b"d", 0.6), (b"a", 0.4)]
    fused = {i: (score, ranks) for i, score, ranks in convex(keyword, semantic, alpha=0.5)}
    assert fused[b"a"] == (pytest.approx(0.5 * 1.0 + 0.5 * 0.0), {"keyword": 1, "semantic": 3})
    assert fused[b"b"][0] == pytest.approx(0.5 * 0.5)
    assert fused[b"c"][0] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)
    assert fused[b"d"][0] == pytest.approx(0.5 * 0.5)
    order = [i for i, _, _ in convex(keyword, semantic, alpha=0.9)]
    assert order[0] == b"c"  # weighted toward meaning
    assert next(i for i, _, _ in convex(keyword, semantic, alpha=0.1)) == b"a"


def test_convex_of_one_list_or_equal_scores() -> None:
    assert convex([], []) == []
    assert [(i, s) for i, s, _ in convex([(b"x", 3.0)], [])] == [(b"x", pytest.approx(0.5))]
    both = convex([(b"y", 2.0), (b"x", 2.0)], [])
    assert [i for i, _, _ in both] == [b"x", b"y"]  # equal scores: by id


def test_mode_parse_names_the_choices() -> None:
    assert Mode.parse("HYBRID") is Mode.HYBRID
    with pytest.raises(EntryError, match="keyword, semantic, hybrid"):
        Mode.parse("fuzzy")


def test_keyword_terms_drop_function_words_unless_nothing_else_is_left() -> None:
    assert keyword_terms("when does the credential change?") == ["credential", "change?"]
    assert keyword_terms("what is it") == ["what", "is", "it"]


def test_filters_admit_only_matching_entries() -> None:
    store = MemoryStore(":memory:")
    key = key_from(1)
    entry = append_entry(store, key, timestamp_ms=5_000, body="b", topic="ops", tags=["x", "y"])
    assert Filters().admits(entry)
    assert Filters(space="default", topic="ops", tags=("x",), author=pub(key)).admits(entry)
    assert Filters(since_ms=5_000, until_ms=5_000).admits(entry)
    for refused in (
        Filters(space="work"), Filters(topic="dev"), Filters(tags=("x", "z")),
        Filters(author=bytes(32)), Filters(since_ms=5_001), Filters(until_ms=4_999),
    ):  # fmt: skip
        assert not refused.admits(entry)
