"""A participant's sans-I/O state machine: answer, reveal, review, and chair if picked.

A participant talks only to the round's asker. It re-checks every signed item
in the asker's bundles, computes the Borda count and the chair itself, and
accepts the final result only if it matches what it computed.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.abstain import make_abstain
from gateway.converge.borda import Score, borda
from gateway.converge.bundles import RevealSet, parse_commits, parse_rankings, parse_reveals
from gateway.converge.chair import pick_chair
from gateway.converge.commit import NONCE_BYTES, Commit, commitment, make_commit, make_reveal
from gateway.converge.core import (
    AIRequest,
    AITask,
    FaultRecorded,
    Output,
    Refused,
    RoundAborted,
    RoundCompleted,
    Send,
    StageChanged,
)
from gateway.converge.faults import Fault, FaultKind, FaultLog
from gateway.converge.messages import Kind, Signed, decode, public_bytes
from gateway.converge.review import label_map, make_ranking, parse_ai_ranking, review_prompt
from gateway.converge.round import Round, Stage, answer_prompt, digest, parse_round
from gateway.converge.synthesis import (
    MAX_SYNTHESIS_BYTES,
    RankedAnswer,
    Result,
    ResultStatus,
    make_synthesis,
    synthesis_prompt,
    verify_result,
)
from gateway.errors import AdapterOutputError, ConvergeMessageError, RoundError

#: the stage whose deadline an AI task must meet
_TASK_STAGE = {
    AITask.ANSWER: Stage.COMMIT,
    AITask.REVIEW: Stage.REVIEW,
    AITask.SYNTHESIS: Stage.SYNTHESIS,
}


class Participant:
    """Takes part in one round. The first message it receives must be the ROUND."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        *,
        nonce_source: Callable[[int], bytes] = os.urandom,
        grace: float = 30.0,
    ) -> None:
        self._key = key
        self.me = public_bytes(key)
        self._nonce_source = nonce_source
        self._grace = grace
        self.round: Round | None = None
        self._stage: Stage | None = None
        self._log = FaultLog()
        self._requests: dict[int, AITask] = {}
        self._next_id = 1
        self._answer: tuple[str, bytes] | None = None  # answer and nonce
        self._commits: dict[bytes, Commit] = {}
        self._prev = b""
        self._revealed: RevealSet | None = None
        self._labels: dict[str, bytes] = {}
        self._chair: bytes | None = None
        self._scores: tuple[Score, ...] | None = None
        self._result: Result | None = None

    @property
    def revealed(self) -> RevealSet | None:
        """The answers revealed to this participant, with their authors (None before)."""
        return self._revealed

    # --- read-only view --------------------------------------------------------------

    @property
    def stage(self) -> Stage | None:
        return self._stage

    @property
    def result(self) -> Result | None:
        return self._result

    @property
    def faults(self) -> tuple[Fault, ...]:
        """Faults of the asker that this participant saw."""
        return self._log.faults

    @property
    def chair(self) -> bytes | None:
        return self._chair

    # --- inputs ------------------------------------------------------------------------

    def receive(self, sender: bytes, data: bytes, now: float) -> list[Output]:
        """Handle ``data`` from the authenticated peer ``sender`` at time ``now``."""
        out = self.tick(now)
        if self._stage is Stage.DONE:
            return [*out, Refused(sender, "the round is over")]
        if self.round is None:
            return out + self._on_round(sender, data)
        if sender != self.round.asker:
            return [*out, Refused(sender, "only the round's asker sends to participants")]
        try:
            msg = decode(data)
            if msg.signer != sender:
                raise ConvergeMessageError("message is signed by another key than the sender's")
            out += self._dispatch(msg, now)
        except ConvergeMessageError as exc:
            out += self._asker_fault(str(exc))
        return out

    def ai_done(self, request_id: int, text: str, now: float) -> list[Output]:
        """The AI answered request ``request_id`` with ``text``."""
        task = self._pop(request_id)
        out = self.tick(now)
        if not self._in_time(task, now):
            return out
        if task is AITask.ANSWER:
            return out + self._send_answer(text)
        if task is AITask.REVIEW:
            return out + self._send_ranking(text)
        return out + self._send_synthesis(text)

    def ai_failed(self, request_id: int, reason: str, now: float) -> list[Output]:
        """The AI failed on request ``request_id``; the participant abstains from that stage."""
        task = self._pop(request_id)
        out = self.tick(now)
        if not self._in_time(task, now):
            return out
        return out + self._abstain(task, reason)

    def tick(self, now: float) -> list[Output]:
        """Give up if the asker sent no result well after the last deadline."""
        if self.round is None or self._stage is Stage.DONE:
            return []
        if now < self.round.deadline(Stage.SYNTHESIS) + self._grace:
            return []
        self._stage = Stage.DONE
        return [StageChanged(Stage.DONE), RoundAborted("no result from the asker in time")]

    # --- the asker's messages ------------------------------------------------------

    def _on_round(self, sender: bytes, data: bytes) -> list[Output]:
        try:
            rnd, msg = parse_round(data)
        except ConvergeMessageError as exc:
            return [Refused(sender, f"not a valid round: {exc}")]
        if msg.signer != sender:
            return [Refused(sender, "the round is signed by another key than the sender's")]
        if self.me not in rnd.participants:
            return [Refused(sender, "this node is not a participant of the round")]
        self.round = rnd
        self._stage = Stage.COMMIT
        return [StageChanged(Stage.COMMIT), self._request(AITask.ANSWER, answer_prompt(rnd))]

    def _dispatch(self, msg: Signed, now: float) -> list[Output]:
        handlers: dict[Kind, tuple[Stage | None, Callable[[Signed], list[Output]]]] = {
            Kind.COMMITS: (Stage.COMMIT, self._on_commits),
            Kind.REVEALS: (Stage.REVEAL, self._on_reveals),
            Kind.RANKINGS: (Stage.REVIEW, self._on_rankings),
            Kind.FINAL: (None, self._on_final),
        }
        if msg.kind not in handlers:
            raise ConvergeMessageError(f"a participant does not accept {msg.kind.value} messages")
        stage, handler = handlers[msg.kind]
        if stage is not None and stage is not self._stage:
            raise ConvergeMessageError(f"{msg.kind.value} out of order")
        return handler(msg)

    def _on_commits(self, msg: Signed) -> list[Output]:
        rnd = self._round()
        self._commits = parse_commits(msg, rnd)
        self._enter(Stage.REVEAL, msg)
        out: list[Output] = [StageChanged(Stage.REVEAL)]
        mine = self._commits.get(self.me)
        if mine is not None and self._answer is not None:
            answer, nonce = self._answer
            if commitment(rnd.round_id, self.me, answer, nonce) == mine.commitment:
                out.append(self._send(make_reveal(self._key, rnd.round_id, answer, nonce)))
        return out

    def _on_reveals(self, msg: Signed) -> list[Output]:
        rnd = self._round()
        self._revealed = parse_reveals(msg, rnd, self._commits, self._prev)
        self._chair = pick_chair(rnd.round_id, self._revealed.commitments)
        self._enter(Stage.REVIEW, msg)
        out: list[Output] = [StageChanged(Stage.REVIEW)]
        if self.me in self._revealed.commitments:
            self._labels = label_map(rnd.round_id, self.me, self._revealed.commitments)
            if self._labels:
                prompt = review_prompt(rnd, self._labels, self._revealed.by_commitment())
                out.append(self._request(AITask.REVIEW, prompt))
        return out

    def _on_rankings(self, msg: Signed) -> list[Output]:
        rnd = self._round()
        assert self._revealed is not None
        rankings, _ = parse_rankings(msg, rnd, self._revealed)
        ballots = [rankings[a].order for a in sorted(rankings)]
        self._scores = borda(self._revealed.commitments.values(), ballots)
        self._enter(Stage.SYNTHESIS, msg)
        out: list[Output] = [StageChanged(Stage.SYNTHESIS)]
        if self._chair == self.me:
            answers = self._revealed.by_commitment()
            ranked = [RankedAnswer(s, answers[s.commitment]) for s in self._scores]
            out.append(self._request(AITask.SYNTHESIS, synthesis_prompt(rnd, ranked)))
        return out

    def _on_final(self, msg: Signed) -> list[Output]:
        rnd = self._round()
        result = verify_result(msg.raw, rnd.asker)
        if result.round_id != rnd.round_id:
            raise ConvergeMessageError("result is for another round")
        problem = self._check_result(result)
        self._stage = Stage.DONE
        if problem:
            self._log.record(rnd.asker, Stage.SYNTHESIS, FaultKind.GARBAGE, problem)
            return [StageChanged(Stage.DONE), RoundAborted(f"invalid result: {problem}")]
        self._result = result
        return [StageChanged(Stage.DONE), RoundCompleted(result)]

    def _check_result(self, result: Result) -> str | None:
        """Why ``result`` disagrees with the bundles this participant saw (None if it agrees)."""
        if self._scores is None or self._revealed is None:
            # Closed before the review: only "no answers" or a fallback can be right.
            return None if result.status is not ResultStatus.OK else "ok result without rankings"
        if result.scores != self._scores:
            return "the Borda count differs from the published rankings"
        if result.status is ResultStatus.OK:
            assert result.synthesis is not None
            if result.chair != self._chair:
                return "the synthesis is not from the chair"
            if result.synthesis.rankings_digest != self._prev:
                return "the synthesis refers to other rankings"
        elif result.status is ResultStatus.FALLBACK:
            top = self._revealed.by_commitment()[self._scores[0].commitment]
            if result.text != top:
                return "the fallback text is not the top-ranked answer"
        else:
            return "no answers, though answers were revealed"
        return None

    # --- own messages -----------------------------------------------------------------

    def _send_answer(self, text: str) -> list[Output]:
        rnd = self._round()
        if not _fits(text, rnd.max_answer_bytes):
            return self._abstain(AITask.ANSWER, f"answer over {rnd.max_answer_bytes} bytes")
        nonce = self._nonce_source(NONCE_BYTES)
        self._answer = (text, nonce)
        value = commitment(rnd.round_id, self.me, text, nonce)
        return [self._send(make_commit(self._key, rnd.round_id, value))]

    def _send_ranking(self, text: str) -> list[Output]:
        rnd = self._round()
        try:
            order = parse_ai_ranking(text, list(self._labels))
        except AdapterOutputError as exc:
            return self._abstain(AITask.REVIEW, str(exc))
        return [self._send(make_ranking(self._key, rnd.round_id, self._revealed_digest(), order))]

    def _send_synthesis(self, text: str) -> list[Output]:
        rnd = self._round()
        if not _fits(text, MAX_SYNTHESIS_BYTES):
            return self._abstain(AITask.SYNTHESIS, f"synthesis over {MAX_SYNTHESIS_BYTES} bytes")
        assert self._scores is not None
        cited = [s.commitment for s in self._scores]
        return [self._send(make_synthesis(self._key, rnd.round_id, text, cited, self._prev))]

    def _abstain(self, task: AITask, reason: str) -> list[Output]:
        rnd = self._round()
        return [self._send(make_abstain(self._key, rnd.round_id, _TASK_STAGE[task], reason))]

    # --- helpers ---------------------------------------------------------------------

    def _round(self) -> Round:
        if self.round is None:
            raise RoundError("no round yet")
        return self.round

    def _revealed_digest(self) -> bytes:
        assert self._revealed is not None
        return self._revealed.digest

    def _enter(self, stage: Stage, bundle: Signed) -> None:
        self._stage = stage
        self._prev = digest(bundle.raw)

    def _request(self, task: AITask, prompt: str) -> AIRequest:
        rid = self._next_id
        self._next_id += 1
        self._requests[rid] = task
        return AIRequest(rid, task, prompt)

    def _pop(self, request_id: int) -> AITask:
        try:
            return self._requests.pop(request_id)
        except KeyError:
            raise RoundError(f"no AI request {request_id} is open") from None

    def _in_time(self, task: AITask, now: float) -> bool:
        stage = _TASK_STAGE[task]
        return self._stage is stage and now < self._round().deadline(stage)

    def _send(self, msg: Signed) -> Send:
        return Send(self._round().asker, msg.raw)

    def _asker_fault(self, detail: str) -> list[Output]:
        rnd = self._round()
        stage = self._stage if self._stage not in (None, Stage.DONE) else Stage.SYNTHESIS
        assert stage is not None
        fault = self._log.record(rnd.asker, stage, FaultKind.GARBAGE, detail)
        return [FaultRecorded(fault)] if fault else []


def _fits(text: str, limit: int) -> bool:
    try:
        return len(text.encode("utf-8")) <= limit
    except UnicodeEncodeError:
        return False
