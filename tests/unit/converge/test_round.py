"""The signed round and commit-reveal."""

from __future__ import annotations

import pytest

from gateway.converge.commit import (
    commitment,
    make_commit,
    make_reveal,
    opens,
    parse_commit,
    parse_reveal,
)
from gateway.converge.messages import Kind, decode, encode, public_bytes
from gateway.converge.round import (
    MAX_PARTICIPANTS,
    Stage,
    StageTimes,
    answer_prompt,
    new_round,
    parse_round,
)
from gateway.converge.simulate import derive_key
from gateway.errors import ConvergeMessageError, NotParticipantError, RoundError

ASKER = derive_key(2, 0)
MEMBERS = [public_bytes(derive_key(2, i)) for i in range(1, 4)]


def test_round_round_trips_with_absolute_deadlines() -> None:
    rnd, msg = new_round(ASKER, "Why?", MEMBERS, 100.0, times=StageTimes(1, 2, 3, 4))
    back, _ = parse_round(msg.raw)
    assert back == rnd
    assert back.participants == tuple(sorted(MEMBERS))
    assert [back.deadline(s) for s in Stage] == [101.0, 103.0, 106.0, 110.0, float("inf")]
    assert "Why?" in answer_prompt(back) and back.rubric in answer_prompt(back)


@pytest.mark.parametrize(
    ("question", "members", "match"),
    [
        ("  ", MEMBERS, "empty"),
        ("q", [], "participants"),
        ("q", [MEMBERS[0], MEMBERS[0]], "twice"),
        ("q", [b"short"], "32 bytes"),
        ("q", [bytes([i]) * 32 for i in range(MAX_PARTICIPANTS + 1)], "participants"),
        ("x" * 40_000, MEMBERS, "longer"),
    ],
)
def test_bad_rounds_are_round_errors(question: str, members: list[bytes], match: str) -> None:
    with pytest.raises(RoundError, match=match):
        new_round(ASKER, question, members, 0.0)


def test_bad_stage_times_are_round_errors() -> None:
    with pytest.raises(RoundError, match="review"):
        StageTimes(review=0)


def test_a_received_round_with_unsorted_participants_is_refused() -> None:
    rnd, _ = new_round(ASKER, "q", MEMBERS, 0.0)
    body = rnd.body()
    body["participants"] = list(reversed(body["participants"]))
    with pytest.raises(ConvergeMessageError, match="sorted"):
        parse_round(encode(ASKER, Kind.ROUND, body).raw)
    body = rnd.body() | {"reveal_by_ms": rnd.commit_by_ms}
    with pytest.raises(ConvergeMessageError, match="increase"):
        parse_round(encode(ASKER, Kind.ROUND, body).raw)
    with pytest.raises(ConvergeMessageError, match="missing"):
        parse_round(encode(ASKER, Kind.ROUND, {}).raw)


def test_commitment_binds_round_author_answer_and_nonce() -> None:
    rid, author, nonce = b"\x01" * 32, MEMBERS[0], b"\x02" * 32
    base = commitment(rid, author, "42", nonce)
    assert base == commitment(rid, author, "42", nonce)
    assert base != commitment(b"\x03" * 32, author, "42", nonce)
    assert base != commitment(rid, MEMBERS[1], "42", nonce)
    assert base != commitment(rid, author, "43", nonce)
    assert base != commitment(rid, author, "42", b"\x04" * 32)
    # the length prefix keeps answer and nonce apart
    assert commitment(rid, author, "a", b"b" + nonce[1:]) != commitment(rid, author, "ab", nonce)


def test_reveal_opens_only_its_own_commit() -> None:
    rnd, _ = new_round(ASKER, "q", MEMBERS, 0.0)
    key = derive_key(2, 1)
    nonce = b"\x05" * 32
    c = parse_commit(
        decode(
            make_commit(
                key, rnd.round_id, commitment(rnd.round_id, public_bytes(key), "a", nonce)
            ).raw
        ),
        rnd,
    )
    good = parse_reveal(decode(make_reveal(key, rnd.round_id, "a", nonce).raw), rnd)
    bad = parse_reveal(decode(make_reveal(key, rnd.round_id, "b", nonce).raw), rnd)
    assert opens(good, c) and not opens(bad, c)
    outsider = derive_key(9, 9)
    with pytest.raises(NotParticipantError):
        parse_reveal(decode(make_reveal(outsider, rnd.round_id, "a", nonce).raw), rnd)
    with pytest.raises(ConvergeMessageError, match="another round"):
        parse_reveal(decode(make_reveal(key, b"\x09" * 32, "a", nonce).raw), rnd)


def test_an_answer_over_the_round_limit_is_refused() -> None:
    rnd, _ = new_round(ASKER, "q", MEMBERS, 0.0, max_answer_bytes=10)
    key = derive_key(2, 1)
    with pytest.raises(ConvergeMessageError, match="longer"):
        parse_reveal(decode(make_reveal(key, rnd.round_id, "x" * 11, b"\x00" * 32).raw), rnd)
