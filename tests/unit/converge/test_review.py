"""Label shuffling per reviewer, self-vote exclusion, ranking parsing, Borda, chair."""

from __future__ import annotations

import collections
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.converge.borda import borda
from gateway.converge.chair import pick_chair
from gateway.converge.messages import decode, public_bytes
from gateway.converge.review import (
    label,
    label_map,
    make_ranking,
    parse_ai_ranking,
    parse_ranking,
    review_prompt,
    shuffled,
)
from gateway.converge.round import new_round
from gateway.converge.simulate import derive_key
from gateway.errors import AdapterOutputError, ConvergeMessageError, NotParticipantError, RoundError

AUTHORS = [bytes([i]) * 32 for i in range(1, 7)]
REVEALED = {a: bytes([0x80 + i]) * 32 for i, a in enumerate(AUTHORS)}
RID = b"\x11" * 32


def test_labels_are_bijective_base_26() -> None:
    assert [label(i) for i in (0, 1, 25, 26, 27, 701, 702)] == [
        "A", "B", "Z", "AA", "AB", "ZZ", "AAA",
    ]  # fmt: skip


def test_label_map_excludes_own_answer_and_is_deterministic() -> None:
    for reviewer in AUTHORS:
        labels = label_map(RID, reviewer, REVEALED)
        assert list(labels) == ["A", "B", "C", "D", "E"]
        assert REVEALED[reviewer] not in labels.values()
        assert set(labels.values()) == set(REVEALED.values()) - {REVEALED[reviewer]}
        assert labels == label_map(RID, reviewer, dict(reversed(REVEALED.items())))


def test_labels_are_shuffled_differently_per_reviewer_and_round() -> None:
    outsider = b"\xee" * 32  # sees all six answers
    orders = {tuple(label_map(bytes([r]) * 32, outsider, REVEALED).values()) for r in range(40)}
    assert len(orders) > 30  # 720 possible orders
    per_reviewer = {tuple(label_map(RID, bytes([r]) * 32, REVEALED).values()) for r in range(40)}
    assert len(per_reviewer) > 30


def test_shuffle_is_close_to_uniform() -> None:
    items = [b"a", b"b", b"c"]
    counts = collections.Counter(
        tuple(shuffled(bytes([i, j]), items)) for i in range(30) for j in range(100)
    )
    assert len(counts) == 6
    assert all(400 < c < 600 for c in counts.values())  # 500 expected, about 4.5 sigma


def test_review_prompt_hides_authors() -> None:
    rnd, _ = new_round(derive_key(3, 0), "Q?", AUTHORS[:3], 0.0)
    answers = {REVEALED[a]: f"answer of {i}" for i, a in enumerate(AUTHORS[:3])}
    revealed = {a: REVEALED[a] for a in AUTHORS[:3]}
    labels = label_map(rnd.round_id, AUTHORS[0], revealed)
    prompt = review_prompt(rnd, labels, answers)
    assert "answer of 0" not in prompt and "answer of 1" in prompt and "answer of 2" in prompt
    assert all(a.hex() not in prompt for a in AUTHORS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RANKING: C > A > B", ["C", "A", "B"]),
        ("I think so.\nranking: b, c", ["B", "C", "A"]),
        ("Best is C then A", ["C", "A", "B"]),
        ("RANKING: Z > C > C > A", ["C", "A", "B"]),
    ],
)
def test_ai_rankings_are_read_leniently(text: str, expected: list[str]) -> None:
    assert parse_ai_ranking(text, ["A", "B", "C"]) == expected


def test_a_review_naming_no_label_is_an_adapter_error() -> None:
    with pytest.raises(AdapterOutputError):
        parse_ai_ranking("all are fine", ["A", "B"])


def test_wire_rankings_are_checked_strictly() -> None:
    keys = [derive_key(4, i) for i in range(1, 4)]
    members = [public_bytes(k) for k in keys]
    rnd, _ = new_round(derive_key(4, 0), "q", members, 0.0)
    revealed = {m: bytes([i + 1]) * 32 for i, m in enumerate(members)}
    digest = b"\x42" * 32
    labels = label_map(rnd.round_id, members[0], revealed)
    ok = parse_ranking(
        decode(make_ranking(keys[0], rnd.round_id, digest, ["B", "A"]).raw), rnd, revealed, digest
    )
    assert ok.order == (labels["B"], labels["A"])
    for order in (["A"], ["A", "A"], ["A", "B", "C"], ["A", 1]):
        msg = decode(make_ranking(keys[0], rnd.round_id, digest, order).raw)  # type: ignore[list-item]
        with pytest.raises(ConvergeMessageError):
            parse_ranking(msg, rnd, revealed, digest)
    with pytest.raises(ConvergeMessageError, match="other reveals"):
        parse_ranking(
            decode(make_ranking(keys[0], rnd.round_id, b"\x00" * 32, ["A", "B"]).raw),
            rnd,
            revealed,
            digest,
        )
    without_0 = {m: c for m, c in revealed.items() if m != members[0]}
    with pytest.raises(NotParticipantError):
        parse_ranking(
            decode(make_ranking(keys[0], rnd.round_id, digest, ["A"]).raw), rnd, without_0, digest
        )


# --- Borda ----------------------------------------------------------------------------------


def test_borda_by_hand_with_self_exclusion() -> None:
    a, b, c = b"a", b"b", b"c"
    # three reviewers, each ranking the other two answers
    scores = borda([a, b, c], [[b, c], [a, c], [a, b]])
    assert [(s.commitment, s.points, s.ballots) for s in scores] == [
        (a, 2, 2),
        (b, 1, 2),
        (c, 0, 2),
    ]
    assert scores[0].mean == Fraction(1)


def test_borda_normalizes_by_ballots_seen() -> None:
    a, b, c = b"a", b"b", b"c"
    # c's author did not review, so c is on one more ballot than a
    scores = borda([a, b, c], [[a, c], [a, b, c]])
    by = {s.commitment: s for s in scores}
    assert (by[a].points, by[a].ballots) == (3, 2)
    assert (by[c].points, by[c].ballots) == (0, 2)
    assert by[b].mean == Fraction(1, 1)
    assert scores[0].commitment == a


def test_borda_ignores_unknown_names_and_breaks_ties_deterministically() -> None:
    scores = borda([b"y", b"x"], [[b"zz", b"x", b"y"], [b"y", b"x"]])
    assert [s.commitment for s in scores] == [b"x", b"y"]  # tie: byte order
    assert borda([b"x"], [])[0].mean == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.permutations([b"a", b"b", b"c", b"d"]), max_size=8), st.randoms())
def test_borda_total_and_ballot_order_invariance(ballots: list[list[bytes]], rng: object) -> None:
    scores = borda([b"a", b"b", b"c", b"d"], ballots)
    assert sum(s.points for s in scores) == 6 * len(ballots)
    shuffled_ballots = list(ballots)
    rng.shuffle(shuffled_ballots)  # type: ignore[attr-defined]
    assert borda([b"d", b"c", b"b", b"a"], shuffled_ballots) == scores


# --- chair ------------------------------------------------------------------------------------


def test_chair_is_deterministic_and_one_of_the_revealed() -> None:
    chair = pick_chair(RID, REVEALED)
    assert chair in REVEALED
    assert chair == pick_chair(RID, dict(reversed(REVEALED.items())))


def test_chair_varies_with_the_round_id_roughly_uniformly() -> None:
    counts = collections.Counter(pick_chair(i.to_bytes(32, "big"), REVEALED) for i in range(1200))
    assert set(counts) == set(REVEALED)
    assert all(130 < c < 270 for c in counts.values())  # 200 expected


def test_no_revealed_answers_means_no_chair() -> None:
    with pytest.raises(RoundError):
        pick_chair(RID, {})
