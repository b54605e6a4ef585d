"""The signed round: question, participants, deadlines per stage, rubric."""

from __future__ import annotations

import enum
import hashlib
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge import context
from gateway.converge.limits import MAX_QUESTION_BYTES as MAX_QUESTION_BYTES
from gateway.converge.messages import (
    KEY_BYTES,
    Body,
    Kind,
    Signed,
    decode_as,
    encode,
    hex_field,
    int_field,
    list_field,
    parse_hex,
    public_bytes,
    str_field,
)
from gateway.errors import ConvergeMessageError, RoundError

ROUND_ID_BYTES = 32
MAX_PARTICIPANTS = 32
MAX_RUBRIC_BYTES = 8 * 1024
DEFAULT_MAX_ANSWER_BYTES = 16 * 1024
MAX_ANSWER_BYTES = 64 * 1024
DEFAULT_RUBRIC = (
    "Be correct, specific and concise. Show short reasoning if it helps. "
    "End with one line of the form 'ANSWER: <your final answer>'."
)
ANSWER_HEADER = "[council: answer]"
QUESTION_MARK = "QUESTION:"


class Stage(enum.Enum):
    """The stages of a round, in order."""

    COMMIT = "commit"
    REVEAL = "reveal"
    REVIEW = "review"
    SYNTHESIS = "synthesis"
    DONE = "done"


@dataclass(frozen=True)
class StageTimes:
    """How long each stage may last, in seconds."""

    answer: float = 120.0
    reveal: float = 30.0
    review: float = 120.0
    synthesis: float = 120.0

    def __post_init__(self) -> None:
        for name in ("answer", "reveal", "review", "synthesis"):
            value = getattr(self, name)
            if not 0 < value <= 86_400:
                raise RoundError(f"stage time {name!r} must be in (0, 86400] seconds, got {value}")


@dataclass(frozen=True)
class Round:
    """A round as the asker signed it. Deadlines are absolute, in milliseconds."""

    round_id: bytes
    asker: bytes
    question: str
    rubric: str
    participants: tuple[bytes, ...]
    created_ms: int
    commit_by_ms: int
    reveal_by_ms: int
    review_by_ms: int
    synthesis_by_ms: int
    max_answer_bytes: int

    def deadline(self, stage: Stage) -> float:
        """The end of ``stage`` in seconds (infinite for DONE)."""
        ms = {
            Stage.COMMIT: self.commit_by_ms,
            Stage.REVEAL: self.reveal_by_ms,
            Stage.REVIEW: self.review_by_ms,
            Stage.SYNTHESIS: self.synthesis_by_ms,
        }.get(stage)
        return float("inf") if ms is None else ms / 1000.0

    def body(self) -> Body:
        """The wire body of the ROUND message."""
        return {
            "round_id": self.round_id.hex(),
            "question": self.question,
            "rubric": self.rubric,
            "participants": [p.hex() for p in self.participants],
            "created_ms": self.created_ms,
            "commit_by_ms": self.commit_by_ms,
            "reveal_by_ms": self.reveal_by_ms,
            "review_by_ms": self.review_by_ms,
            "synthesis_by_ms": self.synthesis_by_ms,
            "max_answer_bytes": self.max_answer_bytes,
        }


def new_round(
    key: Ed25519PrivateKey,
    question: str,
    participants: list[bytes] | tuple[bytes, ...],
    now: float,
    *,
    times: StageTimes | None = None,
    rubric: str = DEFAULT_RUBRIC,
    round_id: bytes | None = None,
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
) -> tuple[Round, Signed]:
    """Build and sign a new round; raises RoundError on bad parameters."""
    times = times or StageTimes()
    rid = round_id if round_id is not None else os.urandom(ROUND_ID_BYTES)
    created = round(now * 1000)
    commit_by = created + round(times.answer * 1000)
    reveal_by = commit_by + round(times.reveal * 1000)
    review_by = reveal_by + round(times.review * 1000)
    synthesis_by = review_by + round(times.synthesis * 1000)
    rnd = Round(
        rid,
        public_bytes(key),
        question,
        rubric,
        tuple(sorted(participants)),
        created,
        commit_by,
        reveal_by,
        review_by,
        synthesis_by,
        max_answer_bytes,
    )
    try:
        _check(rnd)
    except ConvergeMessageError as exc:
        raise RoundError(str(exc)) from exc
    return rnd, encode(key, Kind.ROUND, rnd.body())


def _check(rnd: Round) -> None:
    if len(rnd.round_id) != ROUND_ID_BYTES:
        raise ConvergeMessageError(f"round id must be {ROUND_ID_BYTES} bytes")
    if not rnd.question.strip():
        raise ConvergeMessageError("the question is empty")
    for name, limit in (("question", MAX_QUESTION_BYTES), ("rubric", MAX_RUBRIC_BYTES)):
        if len(getattr(rnd, name).encode("utf-8")) > limit:
            raise ConvergeMessageError(f"the {name} is longer than {limit} bytes")
    if not 1 <= len(rnd.participants) <= MAX_PARTICIPANTS:
        raise ConvergeMessageError(f"a round needs 1 to {MAX_PARTICIPANTS} participants")
    if len(set(rnd.participants)) != len(rnd.participants):
        raise ConvergeMessageError("participants are listed twice")
    if any(len(p) != KEY_BYTES for p in rnd.participants):
        raise ConvergeMessageError(f"participant keys must be {KEY_BYTES} bytes")
    if tuple(sorted(rnd.participants)) != rnd.participants:
        raise ConvergeMessageError("participants must be sorted")
    stamps = (
        rnd.created_ms,
        rnd.commit_by_ms,
        rnd.reveal_by_ms,
        rnd.review_by_ms,
        rnd.synthesis_by_ms,
    )
    if any(a >= b for a, b in itertools.pairwise(stamps)):
        raise ConvergeMessageError("deadlines must strictly increase")
    if not 1 <= rnd.max_answer_bytes <= MAX_ANSWER_BYTES:
        raise ConvergeMessageError(f"max_answer_bytes must be in [1, {MAX_ANSWER_BYTES}]")


def parse_round(data: bytes) -> tuple[Round, Signed]:
    """Decode and check a ROUND message; raises ConvergeMessageError."""
    msg = decode_as(data, Kind.ROUND)
    b = msg.body
    rnd = Round(
        round_id=hex_field(b, "round_id", ROUND_ID_BYTES),
        asker=msg.signer,
        question=str_field(b, "question", MAX_QUESTION_BYTES),
        rubric=str_field(b, "rubric", MAX_RUBRIC_BYTES),
        participants=tuple(
            parse_hex(p, "participants[]", KEY_BYTES)
            for p in list_field(b, "participants", MAX_PARTICIPANTS)
        ),
        created_ms=int_field(b, "created_ms"),
        commit_by_ms=int_field(b, "commit_by_ms"),
        reveal_by_ms=int_field(b, "reveal_by_ms"),
        review_by_ms=int_field(b, "review_by_ms"),
        synthesis_by_ms=int_field(b, "synthesis_by_ms"),
        max_answer_bytes=int_field(b, "max_answer_bytes"),
    )
    _check(rnd)
    return rnd, msg


def check_round_id(body: Body, rnd: Round) -> None:
    """Raise ConvergeMessageError unless ``body`` names this round."""
    if hex_field(body, "round_id", ROUND_ID_BYTES) != rnd.round_id:
        raise ConvergeMessageError("message is for another round")


def answer_prompt(rnd: Round, own_context: Sequence[str] = ()) -> str:
    """The prompt each participant gives its AI in stage 1: the asker's context (if
    the question carries some) and ``own_context`` (lines from this participant's
    memory) apart from the question, each saying whose it is."""
    asker_lines, question = context.split(rnd.question)
    shown = context.section(asker_lines, own_context)
    return (
        f"{ANSWER_HEADER}\n"
        "You are one member of a council of independent AI assistants. "
        "Answer the question on your own.\n"
        f"RUBRIC: {rnd.rubric}\n"
        + (f"{shown}\n" if shown else "")
        + f"{QUESTION_MARK}\n{question}\n"
    )


def digest(data: bytes) -> bytes:
    """SHA-256 of ``data`` (used for bundle digests)."""
    return hashlib.sha256(data).digest()
