"""Wire messages, decisions, genesis and state: round trips and hostile bytes."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.circle.decisions import (
    EXECUTED_WINDOW,
    AddMember,
    CircleState,
    Decision,
    RankReport,
    RecordAnswer,
    RemoveMember,
    SetSpace,
    Space,
    SpacePolicy,
    Tombstone,
    already_executed,
    decode_decision,
    decode_genesis,
    decode_state,
    encode_decision,
    execute,
    make_genesis,
    public_bytes,
)
from gateway.circle.messages import (
    NULL_DIGEST,
    CommitCert,
    ConfigLink,
    Message,
    PreparedCert,
    check_equivocation,
    decode,
    equivocation_evidence,
    make_checkpoint,
    make_commit,
    make_new_view,
    make_pre_prepare,
    make_prepare,
    make_request,
    make_state_reply,
    make_state_request,
    make_view_change,
)
from gateway.errors import CircleError, CircleStateError, ProtocolError
from tests.unit.circle.sim import sim_key

KEYS = [sim_key(i) for i in range(4)]
IDS = [public_bytes(k) for k in KEYS]
CIRCLE = hashlib.sha256(b"msg-circle").digest()

keys32 = st.binary(min_size=32, max_size=32)
space_names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
decisions: st.SearchStrategy[Decision] = st.one_of(
    st.builds(AddMember, keys32),
    st.builds(RemoveMember, keys32),
    st.builds(Tombstone, keys32),
    st.builds(RecordAnswer, keys32, keys32),
    st.builds(SetSpace, space_names, st.sampled_from([SpacePolicy.OPEN, SpacePolicy.REMOVED])),
    st.builds(
        lambda name, keys: SetSpace(name, SpacePolicy.LISTED, tuple(sorted(keys))),
        space_names,
        st.sets(keys32, max_size=5),
    ),
    st.builds(
        lambda digest, ranks: RankReport(digest, tuple(ranks)),
        keys32,
        st.lists(st.integers(0, 3), min_size=1, max_size=128),
    ),
)
u63 = st.integers(min_value=0, max_value=2**63)
seqs = st.integers(min_value=1, max_value=2**40)


def sample_messages(decision: Decision, ts: int, view: int, seq: int) -> list[Message]:
    """One of every kind, all consistent with each other."""
    req = make_request(KEYS[1], CIRCLE, ts, decision)
    pp = make_pre_prepare(KEYS[0], CIRCLE, view, seq, req)
    null_pp = make_pre_prepare(KEYS[0], CIRCLE, view, seq + 1, None)
    prepares = [make_prepare(k, pp) for k in KEYS[1:3]]
    commits = [make_commit(k, CIRCLE, view, seq, pp.digest) for k in KEYS[:3]]
    state = CircleState(CIRCLE, 4, tuple(sorted(IDS)))
    proof = [make_checkpoint(k, CIRCLE, 4, state.digest) for k in KEYS[:3]]
    vc = (
        make_view_change(
            KEYS[2], CIRCLE, view + 1, 4, state.digest, proof, [PreparedCert(pp, tuple(prepares))]
        )
        if seq > 4
        else make_view_change(KEYS[2], CIRCLE, view + 1, 0, state.digest, [], [])
    )
    nv = make_new_view(
        KEYS[1], CIRCLE, view + 1, [vc], [make_pre_prepare(KEYS[1], CIRCLE, view + 1, 5, None)]
    )
    link_state = CircleState(CIRCLE, 2, tuple(sorted(IDS)))
    link_proof = [make_checkpoint(k, CIRCLE, 2, link_state.digest) for k in KEYS[:3]]
    link = ConfigLink(2, link_state.members, link_state.body_hash, tuple(link_proof))
    cert = CommitCert(req, tuple(commits))
    reply = make_state_reply(KEYS[3], CIRCLE, state, proof, [link], [cert] if seq == 5 else [])
    return [
        req, pp, null_pp, *prepares, *commits, *proof, vc, nv,
        make_state_request(KEYS[3], CIRCLE, seq, 4 if seq >= 4 else 0), reply,
        make_state_reply(KEYS[3], CIRCLE, None, [], [], []),
    ]  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(decisions, u63, u63, st.sampled_from([1, 5, 9]))
def test_every_message_round_trips(decision: Decision, ts: int, view: int, seq: int) -> None:
    for msg in sample_messages(decision, ts, view % 2**62, seq):
        back = decode(msg.raw)
        assert back == msg
        assert type(back) is type(msg)


@settings(max_examples=300, deadline=None)
@given(decisions)
def test_every_decision_round_trips(decision: Decision) -> None:
    assert decode_decision(encode_decision(decision)) == decision


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_circle_error(data: bytes) -> None:
    for parse in (decode, decode_decision, decode_genesis, decode_state):
        with contextlib.suppress(CircleError):
            parse(data)


VALID = sample_messages(Tombstone(bytes(32)), 7, 3, 5)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(range(len(VALID))),
    st.integers(min_value=0),
    st.integers(min_value=1, max_value=255),
)
def test_a_flipped_byte_is_refused_with_a_circle_error(which: int, pos: int, xor: int) -> None:
    raw = bytearray(VALID[which].raw)
    raw[pos % len(raw)] ^= xor
    with pytest.raises(CircleError):
        decode(bytes(raw))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(range(len(VALID))), st.integers(min_value=0))
def test_a_truncated_or_extended_message_is_refused(which: int, cut: int) -> None:
    raw = VALID[which].raw
    with pytest.raises(CircleError) as info:
        decode(raw[: cut % len(raw)])
    assert info.value.reason in {"truncated", "malformed", "oversized", "version", "unknown_type"}
    with pytest.raises(CircleError, match=r"trailing|truncated|bad_signature"):
        decode(raw + b"\x00")


def test_errors_name_the_problem_and_are_protocol_errors() -> None:
    req = make_request(KEYS[0], CIRCLE, 1, Tombstone(bytes(32)))
    with pytest.raises(CircleError) as info:
        decode(b"\x02" + req.raw[1:])
    assert info.value.reason == "version" and info.value.code == "circle_version"
    assert isinstance(info.value, ProtocolError)
    with pytest.raises(CircleError, match="unknown_type"):
        decode(req.raw[:1] + b"\x63" + req.raw[2:])
    forged = req.raw[:-64] + bytes(64)
    with pytest.raises(CircleError, match="bad_signature"):
        decode(forged)
    with pytest.raises(CircleError, match="malformed"):
        decode("text")  # type: ignore[arg-type]


def test_a_pre_prepare_must_carry_the_request_it_names() -> None:
    req = make_request(KEYS[1], CIRCLE, 1, Tombstone(bytes(32)))
    other = make_request(KEYS[1], CIRCLE, 2, Tombstone(bytes(32)))
    pp = make_pre_prepare(KEYS[0], CIRCLE, 0, 1, req)
    swapped = pp.raw[: -len(req.raw) - 4] + len(other.raw).to_bytes(4, "big") + other.raw
    with pytest.raises(CircleError, match="does not match"):
        decode(swapped)
    stripped = pp.raw[: -len(req.raw) - 4] + bytes(4)
    with pytest.raises(CircleError, match="no request"):
        decode(stripped)
    assert make_pre_prepare(KEYS[0], CIRCLE, 0, 1, None).digest == NULL_DIGEST


def test_nested_messages_of_another_circle_are_refused() -> None:
    state = CircleState(CIRCLE, 4, tuple(sorted(IDS)))
    alien = [make_checkpoint(k, bytes(32), 4, state.digest) for k in KEYS[:3]]
    vc = make_view_change(KEYS[2], bytes(32), 1, 4, state.digest, alien, [])
    raw = make_new_view(KEYS[1], bytes(32), 1, [vc], []).raw
    decode(raw)
    with pytest.raises(CircleError, match="another"):
        make_new_view(KEYS[1], CIRCLE, 1, [vc], [])


def test_a_view_change_proof_must_vouch_for_its_checkpoint() -> None:
    state = CircleState(CIRCLE, 4, tuple(sorted(IDS)))
    proof = [make_checkpoint(k, CIRCLE, 4, state.digest) for k in KEYS[:2]]
    proof.append(make_checkpoint(KEYS[2], CIRCLE, 4, bytes(32)))
    with pytest.raises(CircleError, match="another state"):
        make_view_change(KEYS[2], CIRCLE, 1, 4, state.digest, proof, [])
    twice = [proof[0], proof[0]]
    with pytest.raises(CircleError, match="twice"):
        make_view_change(KEYS[2], CIRCLE, 1, 4, state.digest, twice, [])


def test_equivocation_evidence_verifies_and_cannot_be_forged() -> None:
    a = make_pre_prepare(KEYS[0], CIRCLE, 2, 7, None)
    req = make_request(KEYS[1], CIRCLE, 1, Tombstone(bytes(32)))
    b = make_pre_prepare(KEYS[0], CIRCLE, 2, 7, req)
    evidence = equivocation_evidence(CIRCLE, IDS[0], 2, 7, (a.digest, a.sig), (b.digest, b.sig))
    assert check_equivocation(evidence) == (CIRCLE, IDS[0], 2, 7)
    with pytest.raises(CircleError, match="bad_signature"):
        check_equivocation(evidence[:-1] + bytes([evidence[-1] ^ 1]))
    same = equivocation_evidence(CIRCLE, IDS[0], 2, 7, (a.digest, a.sig), (a.digest, a.sig))
    with pytest.raises(CircleError, match="same digest"):
        check_equivocation(same)
    with pytest.raises(CircleError):
        check_equivocation(b"short")


def test_genesis_round_trip_and_rules() -> None:
    g = make_genesis(KEYS[0], CIRCLE, IDS, checkpoint_interval=8)
    back = decode_genesis(g.encode())
    assert back == g and back.members == tuple(sorted(IDS))
    with pytest.raises(CircleError, match="bad_signature"):
        decode_genesis(g.encode()[:-1] + bytes([g.encode()[-1] ^ 1]))
    with pytest.raises(CircleStateError, match="creator"):
        make_genesis(KEYS[0], CIRCLE, IDS[1:])
    with pytest.raises(CircleStateError):
        make_genesis(KEYS[0], CIRCLE, IDS, checkpoint_interval=0)


def test_state_digest_is_deterministic_and_encoding_round_trips() -> None:
    state = CircleState(CIRCLE, 0, tuple(sorted(IDS)))
    changes: list[Decision] = [
        Tombstone(b"t" * 32),
        SetSpace("notes", SpacePolicy.LISTED, tuple(sorted(IDS[:2]))),
        RecordAnswer(b"r" * 32, b"a" * 32),
        RemoveMember(IDS[3]),
        AddMember(b"n" * 32),
    ]
    for i, d in enumerate(changes, start=1):
        state, applied = execute(state, i, IDS[0], i, d)
        assert applied
    assert decode_state(state.encode()) == state
    assert decode_state(state.encode()).digest == state.digest
    assert state.space("notes") == Space("notes", SpacePolicy.LISTED, tuple(sorted(IDS[:2])))
    assert state.answer(b"r" * 32) == b"a" * 32
    # a second answer for the round, a repeated request, a non-member's request: no change
    again, applied = execute(state, 6, IDS[1], 1, RecordAnswer(b"r" * 32, b"b" * 32))
    assert not applied and again.answer(b"r" * 32) == b"a" * 32
    assert already_executed(state, IDS[0], 3)
    same, applied = execute(state, 7, IDS[0], 3, Tombstone(b"x" * 32))
    assert not applied and b"x" * 32 not in same.tombstones
    _, applied = execute(state, 8, IDS[3], 1, Tombstone(b"y" * 32))
    assert not applied  # IDS[3] was removed


def test_executed_requests_are_remembered_in_a_window() -> None:
    state = CircleState(CIRCLE, 0, (IDS[0],))
    for ts in range(1, EXECUTED_WINDOW + 2):
        state, _ = execute(state, ts, IDS[0], ts * 10, Tombstone(bytes(32)))
    assert already_executed(state, IDS[0], 10 * (EXECUTED_WINDOW + 1))
    assert already_executed(state, IDS[0], 5)  # older than the window: refused
    assert not already_executed(state, IDS[0], 10**9)


def test_a_genesis_holds_up_to_128_members() -> None:
    keys = [sim_key(i) for i in range(128)]
    ids = [public_bytes(k) for k in keys]
    genesis = make_genesis(keys[0], b"g" * 32, ids)
    assert len(decode_genesis(genesis.encode()).members) == 128
    with pytest.raises(CircleStateError, match="1 to 128 members"):
        make_genesis(keys[0], b"g" * 32, [*ids, public_bytes(sim_key(128))])
