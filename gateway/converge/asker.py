"""The asker's sans-I/O state machine: it runs a round and signs the result.

The asker collects the participants' signed messages stage by stage, closes a
stage when every expected participant has answered or its deadline passed,
publishes what it accepted as a signed bundle, and finally signs the result.
Peers that are silent, late, equivocating or sending garbage are recorded as
faults and left behind; they cannot stall the round.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.abstain import parse_abstain
from gateway.converge.borda import Score, borda
from gateway.converge.bundles import RevealSet, make_bundle
from gateway.converge.chair import pick_chair
from gateway.converge.commit import Commit, Reveal, opens, parse_commit, parse_reveal
from gateway.converge.core import (
    FaultRecorded,
    Output,
    Refused,
    RoundCompleted,
    Send,
    StageChanged,
)
from gateway.converge.faults import Fault, FaultKind, FaultLog
from gateway.converge.messages import Kind, Signed, decode
from gateway.converge.review import Ranking, parse_ranking
from gateway.converge.round import (
    DEFAULT_MAX_ANSWER_BYTES,
    DEFAULT_RUBRIC,
    Stage,
    StageTimes,
    digest,
    new_round,
)
from gateway.converge.synthesis import (
    Result,
    ResultStatus,
    make_final,
    parse_synthesis,
    verify_result,
)
from gateway.errors import ConvergeMessageError, RoundError

_ORDER = [Stage.COMMIT, Stage.REVEAL, Stage.REVIEW, Stage.SYNTHESIS, Stage.DONE]
_STAGE_OF = {
    Kind.COMMIT: Stage.COMMIT,
    Kind.REVEAL: Stage.REVEAL,
    Kind.RANKING: Stage.REVIEW,
    Kind.SYNTHESIS: Stage.SYNTHESIS,
}


class Asker:
    """Runs one round as its asker. Feed it with :meth:`receive` and :meth:`tick`."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        question: str,
        participants: list[bytes] | tuple[bytes, ...],
        now: float,
        *,
        times: StageTimes | None = None,
        rubric: str = DEFAULT_RUBRIC,
        round_id: bytes | None = None,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        self._key = key
        self.round, self._round_msg = new_round(
            key,
            question,
            participants,
            now,
            times=times,
            rubric=rubric,
            round_id=round_id,
            max_answer_bytes=max_answer_bytes,
        )
        self._stage = Stage.COMMIT
        self._started = False
        self._log = FaultLog()
        self._excluded: set[bytes] = set()
        self._done: set[bytes] = set()  # finished the current stage without a message
        self._commits: dict[bytes, Commit] = {}
        self._reveals: dict[bytes, Reveal] = {}
        self._rankings: dict[bytes, Ranking] = {}
        self._prev = b""  # digest of the last bundle
        self._revealed: RevealSet | None = None
        self._chair: bytes | None = None
        self._scores: tuple[Score, ...] = ()
        self._result: Result | None = None

    # --- read-only view -------------------------------------------------------------

    @property
    def stage(self) -> Stage:
        return self._stage

    @property
    def faults(self) -> tuple[Fault, ...]:
        return self._log.faults

    @property
    def chair(self) -> bytes | None:
        return self._chair

    @property
    def result(self) -> Result | None:
        return self._result

    @property
    def revealed(self) -> RevealSet | None:
        """The published answers (author, commitment, text), once the reveal stage closed."""
        return self._revealed

    # --- inputs ------------------------------------------------------------------

    def start(self) -> list[Output]:
        """Send the signed round to every participant."""
        if self._started:
            raise RoundError("the round was already started")
        self._started = True
        return [*self._broadcast(self._round_msg), StageChanged(Stage.COMMIT)]

    def tick(self, now: float) -> list[Output]:
        """Close every stage whose deadline has passed."""
        self._require_started()
        return self._advance(now)

    def receive(self, sender: bytes, data: bytes, now: float) -> list[Output]:
        """Handle ``data`` from the authenticated peer ``sender`` at time ``now``."""
        self._require_started()
        if sender not in self.round.participants:
            return [Refused(sender, "not a participant of this round")]
        out = self._advance(now)
        try:
            msg = decode(data)
            if msg.signer != sender:
                raise ConvergeMessageError("message is signed by another key than the sender's")
            out += self._dispatch(msg)
        except ConvergeMessageError as exc:
            stage = self._stage if self._stage is not Stage.DONE else Stage.SYNTHESIS
            out += self._fault(sender, FaultKind.GARBAGE, str(exc), stage)
        return out + self._advance(now)

    # --- dispatch ---------------------------------------------------------------------

    def _require_started(self) -> None:
        if not self._started:
            raise RoundError("call start() first")

    def _dispatch(self, msg: Signed) -> list[Output]:
        if msg.kind is Kind.ABSTAIN:
            abstain = parse_abstain(msg, self.round)
            stage, handler = abstain.stage, self._on_abstain
        elif msg.kind in _STAGE_OF:
            stage = _STAGE_OF[msg.kind]
            handler = {
                Kind.COMMIT: self._on_commit,
                Kind.REVEAL: self._on_reveal,
                Kind.RANKING: self._on_ranking,
                Kind.SYNTHESIS: self._on_synthesis,
            }[msg.kind]
        else:
            raise ConvergeMessageError(f"the asker does not accept {msg.kind.value} messages")
        now_i, msg_i = _ORDER.index(self._stage), _ORDER.index(stage)
        if msg_i < now_i:
            return self._late(msg, stage)
        if msg_i > now_i:
            raise ConvergeMessageError(f"{msg.kind.value} before the {stage.value} stage")
        if msg.signer in self._excluded or msg.signer in self._done:
            return []
        return handler(msg)

    def _late(self, msg: Signed, stage: Stage) -> list[Output]:
        """A message after its stage closed: late, or equivocation if it contradicts one we
        accepted (a second, different commit or reveal is evidence whenever it arrives)."""
        known: tuple[object, ...] | None = None
        given: tuple[object, ...] | None = None
        if msg.kind is Kind.COMMIT and msg.signer in self._commits:
            known = (self._commits[msg.signer].commitment,)
            given = (parse_commit(msg, self.round).commitment,)
        elif msg.kind is Kind.REVEAL and msg.signer in self._reveals:
            accepted, reveal = self._reveals[msg.signer], parse_reveal(msg, self.round)
            known, given = (accepted.answer, accepted.nonce), (reveal.answer, reveal.nonce)
        if known is not None and known != given:
            detail = f"a second, different {msg.kind.value} after close"
            return self._fault(msg.signer, FaultKind.EQUIVOCATION, detail, stage)
        return self._fault(msg.signer, FaultKind.LATE, f"{msg.kind.value} after close", stage)

    def _on_commit(self, msg: Signed) -> list[Output]:
        commit = parse_commit(msg, self.round)
        known = self._commits.get(commit.author)
        if known is None:
            self._commits[commit.author] = commit
            return []
        if known.commitment == commit.commitment:
            return []
        return self._exclude(commit.author, Stage.COMMIT, "two different commits")

    def _on_abstain(self, msg: Signed) -> list[Output]:
        abstain = parse_abstain(msg, self.round)
        if abstain.author not in self._expected():
            raise ConvergeMessageError(f"not expected in the {abstain.stage.value} stage")
        if abstain.author in self._received():
            return []
        self._done.add(abstain.author)
        out = self._fault(abstain.author, FaultKind.ABSTAINED, abstain.reason, abstain.stage)
        if abstain.stage is Stage.SYNTHESIS:
            out += self._finalize(ResultStatus.FALLBACK)
        return out

    def _on_reveal(self, msg: Signed) -> list[Output]:
        reveal = parse_reveal(msg, self.round)
        commit = self._commits.get(reveal.author)
        if commit is None:
            raise ConvergeMessageError("reveal without an accepted commit")
        if not opens(reveal, commit):
            return self._exclude(reveal.author, Stage.REVEAL, "reveal does not match the commit")
        known = self._reveals.get(reveal.author)
        if known is None:
            self._reveals[reveal.author] = reveal
            return []
        if (known.answer, known.nonce) == (reveal.answer, reveal.nonce):
            return []
        return self._exclude(reveal.author, Stage.REVEAL, "two different reveals")

    def _on_ranking(self, msg: Signed) -> list[Output]:
        assert self._revealed is not None
        ranking = parse_ranking(msg, self.round, self._revealed.commitments, self._revealed.digest)
        known = self._rankings.get(ranking.reviewer)
        if known is None:
            self._rankings[ranking.reviewer] = ranking
            return []
        if known.order == ranking.order:
            return []
        del self._rankings[ranking.reviewer]
        self._done.add(ranking.reviewer)
        return self._fault(ranking.reviewer, FaultKind.EQUIVOCATION, "two rankings", Stage.REVIEW)

    def _on_synthesis(self, msg: Signed) -> list[Output]:
        if msg.signer != self._chair:
            raise ConvergeMessageError("only the chair sends the synthesis")
        synthesis = parse_synthesis(msg, self.round)
        if synthesis.cited != tuple(s.commitment for s in self._scores):
            detail = "synthesis cites the answers in another order than the Borda count"
        elif synthesis.rankings_digest != self._prev:
            detail = "synthesis refers to other rankings"
        else:
            return self._finalize(ResultStatus.OK, msg)
        self._done.add(msg.signer)
        out = self._fault(msg.signer, FaultKind.GARBAGE, detail, Stage.SYNTHESIS)
        return out + self._finalize(ResultStatus.FALLBACK)

    # --- stage bookkeeping ------------------------------------------------------------

    def _expected(self) -> set[bytes]:
        """Who must still act in the current stage (before removing who did)."""
        if self._stage is Stage.COMMIT:
            expected = set(self.round.participants)
        elif self._stage is Stage.REVEAL:
            expected = set(self._commits)
        elif self._stage is Stage.REVIEW:
            assert self._revealed is not None
            authors = set(self._revealed.commitments)
            expected = authors if len(authors) > 1 else set()
        elif self._stage is Stage.SYNTHESIS:
            expected = {self._chair} if self._chair else set()
        else:
            expected = set()
        return expected - self._excluded

    def _received(self) -> set[bytes]:
        got: dict[Stage, set[bytes]] = {
            Stage.COMMIT: set(self._commits),
            Stage.REVEAL: set(self._reveals),
            Stage.REVIEW: set(self._rankings),
        }
        return got.get(self._stage, set())

    def _waiting(self) -> set[bytes]:
        return self._expected() - self._received() - self._done

    def _advance(self, now: float) -> list[Output]:
        out: list[Output] = []
        while self._stage is not Stage.DONE and (
            now >= self.round.deadline(self._stage) or not self._waiting()
        ):
            out += self._close()
        return out

    def _close(self) -> list[Output]:
        out: list[Output] = []
        for peer in sorted(self._waiting()):
            out += self._fault(peer, FaultKind.TIMEOUT, "nothing by the deadline", self._stage)
        closer: dict[Stage, Callable[[], list[Output]]] = {
            Stage.COMMIT: self._close_commit,
            Stage.REVEAL: self._close_reveal,
            Stage.REVIEW: self._close_review,
            Stage.SYNTHESIS: lambda: self._finalize(ResultStatus.FALLBACK),
        }
        return out + closer[self._stage]()

    def _enter(self, stage: Stage, bundle: Signed) -> list[Output]:
        self._stage = stage
        self._done = set()
        self._prev = digest(bundle.raw)
        return [*self._broadcast(bundle), StageChanged(stage)]

    def _close_commit(self) -> list[Output]:
        if not self._commits:
            return self._finalize(ResultStatus.NO_ANSWERS)
        items = [self._commits[a].msg for a in sorted(self._commits)]
        return self._enter(
            Stage.REVEAL, make_bundle(self._key, Kind.COMMITS, self.round, items, None)
        )

    def _close_reveal(self) -> list[Output]:
        reveals = {a: r for a, r in self._reveals.items() if a not in self._excluded}
        if not reveals:
            return self._finalize(ResultStatus.NO_ANSWERS)
        items = [reveals[a].msg for a in sorted(reveals)]
        bundle = make_bundle(self._key, Kind.REVEALS, self.round, items, self._prev)
        self._revealed = RevealSet(
            {a: r.commitment for a, r in reveals.items()},
            {a: r.answer for a, r in reveals.items()},
            digest(bundle.raw),
        )
        self._chair = pick_chair(self.round.round_id, self._revealed.commitments)
        return self._enter(Stage.REVIEW, bundle)

    def _close_review(self) -> list[Output]:
        assert self._revealed is not None
        items = [self._rankings[a].msg for a in sorted(self._rankings)]
        bundle = make_bundle(self._key, Kind.RANKINGS, self.round, items, self._prev)
        ballots = [self._rankings[a].order for a in sorted(self._rankings)]
        self._scores = borda(self._revealed.commitments.values(), ballots)
        return self._enter(Stage.SYNTHESIS, bundle)

    def _finalize(self, status: ResultStatus, synthesis: Signed | None = None) -> list[Output]:
        if status is ResultStatus.OK and synthesis is not None:
            text = parse_synthesis(synthesis, self.round).text
        elif status is ResultStatus.FALLBACK and self._revealed and self._scores:
            text = self._revealed.by_commitment()[self._scores[0].commitment]
        else:
            text = ""
        final = make_final(
            self._key,
            self.round,
            status,
            text,
            self._chair,
            self._scores,
            self._log.faults,
            synthesis,
        )
        self._result = verify_result(final.raw, self.round.asker)
        self._stage = Stage.DONE
        out = [*self._broadcast(final), StageChanged(Stage.DONE)]
        return [*out, RoundCompleted(self._result)]

    # --- helpers ---------------------------------------------------------------------

    def _broadcast(self, msg: Signed) -> list[Output]:
        return [Send(p, msg.raw) for p in self.round.participants]

    def _exclude(self, peer: bytes, stage: Stage, detail: str) -> list[Output]:
        self._excluded.add(peer)
        self._commits.pop(peer, None)
        self._reveals.pop(peer, None)
        return self._fault(peer, FaultKind.EQUIVOCATION, detail, stage)

    def _fault(self, peer: bytes, kind: FaultKind, detail: str, stage: Stage) -> list[Output]:
        fault = self._log.record(peer, stage, kind, detail)
        return [FaultRecorded(fault)] if fault else []
