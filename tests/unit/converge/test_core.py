"""The sans-I/O core: full rounds among in-memory participants, faults, refusals."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.adapters.scripted import ScriptedAdapter, ScriptedFault
from gateway.converge.asker import Asker
from gateway.converge.commit import commitment, make_commit, make_reveal
from gateway.converge.core import (
    AIRequest,
    AITask,
    FaultRecorded,
    Output,
    Refused,
    RoundAborted,
    Send,
)
from gateway.converge.faults import FaultKind
from gateway.converge.messages import Kind, decode, encode, public_bytes
from gateway.converge.participant import Participant
from gateway.converge.round import Stage, StageTimes
from gateway.converge.simulate import Council, derive_key, run_council
from gateway.converge.synthesis import ResultStatus, make_final, verify_result
from gateway.converge.tasks import extract_answer
from gateway.errors import ConvergeMessageError, RoundError

QUESTION = "Compute 12 * 3 + 4 - 1. Reply with the integer."
TIMES = StageTimes(answer=10, reveal=5, review=10, synthesis=10)


def honest(n: int, accuracy: float = 1.0) -> list[ScriptedAdapter]:
    return [ScriptedAdapter(f"p{i}", accuracy=accuracy, seed=i) for i in range(n)]


def sends(outputs: list[Output]) -> list[Send]:
    return [o for o in outputs if isinstance(o, Send)]


def faults_of(outcome_faults: tuple, peer: bytes) -> set[FaultKind]:  # type: ignore[type-arg]
    return {f.kind for f in outcome_faults if f.peer == peer}


# --- full rounds in the simulated network ----------------------------------------------


def test_full_round_every_participant_sees_the_same_signed_result() -> None:
    outcome = run_council(QUESTION, honest(5), seed=1)
    result = outcome.asker_result
    assert result is not None and result.status is ResultStatus.OK
    assert extract_answer(result.text) == "39"
    assert result.faults == ()
    assert len(result.cited) == 5 and len(set(result.cited)) == 5
    for seen in outcome.results.values():
        assert seen is not None and seen.raw == result.raw
    again = verify_result(result.raw, result.asker)
    assert again.text == result.text and again.chair == result.chair
    assert result.synthesis is not None and result.synthesis.chair == result.chair


def test_round_completes_and_records_timeout_garbage_and_equivocation() -> None:
    adapters = [
        *honest(2),
        ScriptedAdapter("slow", fault=ScriptedFault.TIMEOUT),
        ScriptedAdapter("junk", fault=ScriptedFault.GARBAGE),
        ScriptedAdapter("liar", fault=ScriptedFault.EQUIVOCATE),
    ]
    council = Council(QUESTION, adapters, seed=2, times=TIMES)
    outcome = council.run()
    result = outcome.asker_result
    assert result is not None and result.status is ResultStatus.OK
    assert extract_answer(result.text) == "39"
    by_name = {a.name: pub for pub, a in council.adapters.items()}
    assert FaultKind.TIMEOUT in faults_of(result.faults, by_name["slow"])
    assert FaultKind.LATE in faults_of(outcome.faults, by_name["slow"])
    assert FaultKind.GARBAGE in faults_of(result.faults, by_name["junk"])
    assert faults_of(result.faults, by_name["liar"]) == {FaultKind.EQUIVOCATION}
    honest_keys = {by_name["p0"], by_name["p1"]}
    assert all(not faults_of(result.faults, k) for k in honest_keys)
    # only the two honest answers made it into the result
    assert len(result.cited) == 2
    for pub, seen in outcome.results.items():
        assert seen is not None and seen.raw == result.raw, council.adapters[pub].name


def test_offline_peers_cannot_stall_the_round() -> None:
    adapters = [
        *honest(3),
        *(ScriptedAdapter(f"off{i}", fault=ScriptedFault.OFFLINE) for i in range(2)),
    ]
    outcome = run_council(QUESTION, adapters, seed=3)
    result = outcome.asker_result
    assert result is not None and result.status is ResultStatus.OK
    timeouts = [f for f in result.faults if f.kind is FaultKind.TIMEOUT]
    assert len(timeouts) == 2 and all(f.stage is Stage.COMMIT for f in timeouts)
    # the round ends at the commit deadline plus the remaining work, not at the last deadline
    assert outcome.completed_at is not None
    assert outcome.completed_at < 1_000 + TIMES.answer + TIMES.reveal


def test_all_peers_silent_gives_a_signed_no_answers_result() -> None:
    adapters = [ScriptedAdapter(f"off{i}", fault=ScriptedFault.OFFLINE) for i in range(3)]
    outcome = run_council(QUESTION, adapters, seed=4)
    assert outcome.asker_result is not None
    assert outcome.asker_result.status is ResultStatus.NO_ANSWERS
    assert len(outcome.asker_result.faults) == 3


def test_non_participant_is_refused_by_asker_and_participants() -> None:
    council = Council(QUESTION, honest(3), seed=5, times=TIMES)
    outsider = derive_key(99, 0)
    rid = council.asker.round.round_id
    forged = make_commit(outsider, rid, b"\x01" * 32).raw
    out_pub = public_bytes(outsider)
    member = next(iter(council.participants))
    council.inject(1_000.1, out_pub, None, forged)
    council.inject(1_000.2, out_pub, member, forged)
    outcome = council.run()
    assert [r.sender for r in outcome.refused] == [out_pub, out_pub]
    assert outcome.asker_result is not None
    assert all(f.peer != out_pub for f in outcome.asker_result.faults)
    assert outcome.asker_result.status is ResultStatus.OK


# --- the asker machine, driven by hand ----------------------------------------------------


def keys(n: int) -> list[Ed25519PrivateKey]:
    return [derive_key(7, i + 1) for i in range(n)]


def make_asker(members: list[Ed25519PrivateKey]) -> Asker:
    asker = Asker(derive_key(7, 0), QUESTION, [public_bytes(k) for k in members], 0.0, times=TIMES)
    asker.start()
    return asker


def rid_of(asker: Asker) -> bytes:
    return asker.round.round_id


def test_asker_refuses_a_message_signed_by_someone_else() -> None:
    a, b = keys(2)
    asker = make_asker([a, b])
    msg = make_commit(a, rid_of(asker), b"\x02" * 32)
    out = asker.receive(public_bytes(b), msg.raw, 1.0)
    assert any(isinstance(o, FaultRecorded) and o.fault.kind is FaultKind.GARBAGE for o in out)
    assert asker.stage is Stage.COMMIT


def test_two_different_commits_exclude_the_peer() -> None:
    a, b, c = keys(3)
    asker = make_asker([a, b, c])
    rid = rid_of(asker)
    asker.receive(public_bytes(a), make_commit(a, rid, b"\x01" * 32).raw, 1.0)
    asker.receive(public_bytes(a), make_commit(a, rid, b"\x01" * 32).raw, 1.1)  # same: fine
    assert not asker.faults
    asker.receive(public_bytes(a), make_commit(a, rid, b"\x02" * 32).raw, 1.2)
    assert [f.kind for f in asker.faults] == [FaultKind.EQUIVOCATION]


def test_reveal_before_commits_close_is_garbage_and_after_close_is_late() -> None:
    a, b = keys(2)
    asker = make_asker([a, b])
    rid = rid_of(asker)
    nonce = b"\x00" * 32
    value = commitment(rid, public_bytes(a), "x", nonce)
    asker.receive(public_bytes(a), make_commit(a, rid, value).raw, 1.0)
    asker.receive(public_bytes(a), make_reveal(a, rid, "x", nonce).raw, 1.1)
    assert asker.faults[-1].kind is FaultKind.GARBAGE
    out = asker.tick(TIMES.answer)  # commit deadline: b timed out
    assert asker.stage is Stage.REVEAL
    assert any(isinstance(o, Send) and decode(o.data).kind is Kind.COMMITS for o in out)
    late = make_commit(b, rid, b"\x03" * 32)
    asker.receive(public_bytes(b), late.raw, TIMES.answer + 0.5)
    kinds = [(f.peer, f.kind) for f in asker.faults]
    assert (public_bytes(b), FaultKind.TIMEOUT) in kinds
    assert (public_bytes(b), FaultKind.LATE) in kinds


def test_start_twice_and_tick_before_start_are_errors() -> None:
    (a,) = keys(1)
    asker = Asker(derive_key(7, 0), QUESTION, [public_bytes(a)], 0.0, times=TIMES)
    with pytest.raises(RoundError):
        asker.tick(1.0)
    asker.start()
    with pytest.raises(RoundError):
        asker.start()


# --- participant machine, driven by hand ------------------------------------------------------


class Net:
    """A tiny synchronous harness: one asker, participants, AI answered by scripted adapters."""

    def __init__(self, n: int, adapters: list[ScriptedAdapter] | None = None) -> None:
        self.keys = keys(n)
        self.asker = make_asker_unstarted(self.keys)
        self.parts = {public_bytes(k): Participant(k) for k in self.keys}
        self.adapters = dict(zip(self.parts, adapters or honest(n), strict=True))
        self.pending: list[tuple[bytes, AIRequest]] = []
        self.events: dict[bytes, list[Output]] = {p: [] for p in self.parts}

    def feed(self, source: bytes | None, outputs: list[Output], now: float) -> None:
        for o in outputs:
            if source is not None:
                self.events[source].append(o)
            if isinstance(o, AIRequest) and source is not None:
                self.pending.append((source, o))
            elif isinstance(o, Send) and source is None:
                self.feed(o.to, self.parts[o.to].receive(self.asker.round.asker, o.data, now), now)
            elif isinstance(o, Send):
                self.feed(None, self.asker.receive(source, o.data, now), now)

    def answer_all(self, now: float, fail: set[bytes] = frozenset()) -> None:  # type: ignore[assignment]
        batch, self.pending = self.pending, []
        for peer, req in batch:
            part = self.parts[peer]
            if peer in fail:
                self.feed(peer, part.ai_failed(req.request_id, "model crashed", now), now)
            else:
                text = self.adapters[peer].respond(req.prompt)
                self.feed(peer, part.ai_done(req.request_id, text, now), now)


def make_asker_unstarted(members: list[Ed25519PrivateKey]) -> Asker:
    return Asker(derive_key(7, 0), QUESTION, [public_bytes(k) for k in members], 0.0, times=TIMES)


def test_adapter_failure_makes_only_that_answer_fail() -> None:
    net = Net(4)
    net.feed(None, net.asker.start(), 0.0)
    failing = next(iter(net.parts))
    net.answer_all(1.0, fail={failing})
    for _ in range(3):
        net.answer_all(2.0)
    result = net.asker.result
    assert result is not None and result.status is ResultStatus.OK
    assert [(f.peer, f.kind) for f in result.faults] == [(failing, FaultKind.ABSTAINED)]
    assert len(result.cited) == 3


def test_chair_failure_gives_a_signed_fallback_with_the_top_answer() -> None:
    net = Net(4)
    net.feed(None, net.asker.start(), 0.0)
    net.answer_all(1.0)  # answers
    net.answer_all(2.0)  # reviews
    chair = net.asker.chair
    assert chair is not None and net.pending and net.pending[0][0] == chair
    net.answer_all(3.0, fail={chair})
    result = net.asker.result
    assert result is not None and result.status is ResultStatus.FALLBACK
    assert result.synthesis is None and extract_answer(result.text) == "39"
    assert (chair, FaultKind.ABSTAINED) in [(f.peer, f.kind) for f in result.faults]
    for part in net.parts.values():
        assert part.result is not None and part.result.raw == result.raw


def test_participant_rejects_a_result_that_does_not_match_the_rankings() -> None:
    net = Net(3)
    net.feed(None, net.asker.start(), 0.0)
    net.answer_all(1.0)
    net.answer_all(2.0)
    # a dishonest asker publishes a fallback naming the worst answer as the best
    victim_pub = next(iter(net.parts))
    victim = net.parts[victim_pub]
    rnd = net.asker.round
    scores = tuple(reversed(net.asker._scores))  # the asker's own Borda count, reversed
    final = make_final(derive_key(7, 0), rnd, ResultStatus.FALLBACK, "x", None, scores, (), None)
    out = victim.receive(rnd.asker, final.raw, 3.0)
    assert any(isinstance(o, RoundAborted) for o in out)
    assert victim.result is None


def test_participant_refuses_messages_not_from_the_asker() -> None:
    net = Net(2)
    start = net.asker.start()
    a_pub, b_pub = list(net.parts)
    round_raw = next(o.data for o in sends(start) if o.to == a_pub)
    part = net.parts[a_pub]
    # the round itself, relayed by someone who did not sign it
    out = part.receive(b_pub, round_raw, 0.1)
    assert isinstance(out[-1], Refused) and part.round is None
    out = part.receive(net.asker.round.asker, round_raw, 0.1)
    assert any(isinstance(o, AIRequest) and o.task is AITask.ANSWER for o in out)
    out = part.receive(b_pub, round_raw, 0.2)
    assert isinstance(out[-1], Refused)


def test_participant_refuses_a_round_that_does_not_list_it() -> None:
    net = Net(2)
    start = net.asker.start()
    raw = sends(start)[0].data
    stranger = Participant(derive_key(8, 1))
    out = stranger.receive(net.asker.round.asker, raw, 0.1)
    assert isinstance(out[-1], Refused) and "not a participant" in out[-1].reason


def test_participant_gives_up_when_the_asker_vanishes() -> None:
    net = Net(2)
    start = net.asker.start()
    a_pub = next(iter(net.parts))
    part = net.parts[a_pub]
    part.receive(net.asker.round.asker, next(o.data for o in sends(start) if o.to == a_pub), 0.1)
    assert part.tick(30.0) == []
    out = part.tick(net.asker.round.deadline(Stage.SYNTHESIS) + 31)
    assert any(isinstance(o, RoundAborted) for o in out)


def test_garbage_from_the_asker_is_recorded_and_ignored() -> None:
    net = Net(2)
    start = net.asker.start()
    a_pub = next(iter(net.parts))
    part = net.parts[a_pub]
    part.receive(net.asker.round.asker, next(o.data for o in sends(start) if o.to == a_pub), 0.1)
    out = part.receive(net.asker.round.asker, b"\xff\x00garbage", 0.2)
    assert any(isinstance(o, FaultRecorded) for o in out)
    assert part.stage is Stage.COMMIT
    wrong = encode(derive_key(7, 0), Kind.COMMIT, {"round_id": "00"})
    out = part.receive(net.asker.round.asker, wrong.raw, 0.3)
    assert part.faults and all(f.kind is FaultKind.GARBAGE for f in part.faults)


def test_unknown_ai_request_is_a_caller_error() -> None:
    with pytest.raises(RoundError):
        Participant(derive_key(8, 1)).ai_done(5, "x", 0.0)


def test_verify_result_detects_tampering() -> None:
    outcome = run_council(QUESTION, honest(3), seed=6)
    raw = outcome.asker_result.raw  # type: ignore[union-attr]
    with pytest.raises(ConvergeMessageError):
        verify_result(raw.replace(b"ANSWER: 39", b"ANSWER: 40"))
    with pytest.raises(ConvergeMessageError):
        verify_result(raw, asker=public_bytes(derive_key(1, 1)))


def test_single_participant_round_needs_no_reviews() -> None:
    outcome = run_council(QUESTION, honest(1), seed=7)
    result = outcome.asker_result
    assert result is not None and result.status is ResultStatus.OK
    assert len(result.scores) == 1 and result.scores[0].ballots == 0


def test_deterministic_seeded_simulation() -> None:
    a = run_council(QUESTION, honest(4, 0.5), seed=11).asker_result
    b = run_council(QUESTION, honest(4, 0.5), seed=11).asker_result
    assert a is not None and b is not None and a.raw == b.raw
    assert hashlib.sha256(a.raw).digest() == hashlib.sha256(b.raw).digest()


def test_a_different_reveal_after_close_is_equivocation_not_lateness() -> None:
    # live, the second reveal can arrive after the asker closed the stage on the first
    a, b = keys(2)
    asker = make_asker([a, b])
    rid = rid_of(asker)
    nonce = b"\x00" * 32
    for key, answer in ((a, "x"), (b, "y")):
        value = commitment(rid, public_bytes(key), answer, nonce)
        asker.receive(public_bytes(key), make_commit(key, rid, value).raw, 1.0)
    assert asker.stage is Stage.REVEAL  # everyone committed: closed early
    asker.receive(public_bytes(a), make_reveal(a, rid, "x", nonce).raw, 1.1)
    asker.receive(public_bytes(b), make_reveal(b, rid, "y", nonce).raw, 1.2)
    assert asker.stage is Stage.REVIEW
    asker.receive(public_bytes(a), make_reveal(a, rid, "x", nonce).raw, 1.3)  # a resend
    assert [f.kind for f in asker.faults] == [FaultKind.LATE]
    asker.receive(public_bytes(b), make_reveal(b, rid, "y (or not)", nonce).raw, 1.4)
    assert [(f.peer, f.kind) for f in asker.faults][-1] == (public_bytes(b), FaultKind.EQUIVOCATION)
