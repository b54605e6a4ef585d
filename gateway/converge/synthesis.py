"""Stage 3: the chair's synthesis, and the signed final result of a round."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.borda import Score
from gateway.converge.faults import Fault
from gateway.converge.messages import (
    KEY_BYTES,
    Kind,
    Signed,
    decode_as,
    encode,
    field,
    hex_field,
    int_field,
    list_field,
    parse_hex,
    str_field,
)
from gateway.converge.round import (
    MAX_PARTICIPANTS,
    MAX_QUESTION_BYTES,
    QUESTION_MARK,
    ROUND_ID_BYTES,
    Round,
    check_round_id,
)
from gateway.errors import ConvergeMessageError

SYNTHESIS_HEADER = "[council: synthesis]"
MAX_SYNTHESIS_BYTES = 64 * 1024
MAX_FAULTS = 4 * 5 * MAX_PARTICIPANTS  # stages x fault kinds x peers
CITE_CHARS = 16  # hex characters of a commitment shown to the chair's AI


class ResultStatus(enum.Enum):
    """How the final text came about."""

    OK = "ok"  # the chair's synthesis
    FALLBACK = "fallback"  # the chair failed; the top-ranked answer verbatim
    NO_ANSWERS = "no_answers"  # nobody revealed an answer in time


@dataclass(frozen=True)
class RankedAnswer:
    """An answer with its Borda score, as given to the chair."""

    score: Score
    answer: str


def synthesis_prompt(rnd: Round, ranked: Sequence[RankedAnswer]) -> str:
    """The chair's prompt: the question and the answers in Borda order with their hashes."""
    parts = [
        f"{SYNTHESIS_HEADER}\n"
        "You chair a council of AI assistants. Their answers to the question below are "
        "listed best first, as ranked by the council. Write the council's final answer: "
        "keep what is right, resolve disagreements, and cite the answers you rely on by "
        "their hash in square brackets.\n"
        f"RUBRIC: {rnd.rubric}\n"
        f"{QUESTION_MARK}\n{rnd.question}\n"
    ]
    for i, item in enumerate(ranked, 1):
        s = item.score
        parts.append(
            f"--- RANK {i} [{s.commitment.hex()[:CITE_CHARS]}] "
            f"borda {s.points}/{s.ballots} ---\n{item.answer}\n"
        )
    parts.append("--- END ---\n")
    return "".join(parts)


@dataclass(frozen=True)
class Synthesis:
    chair: bytes
    text: str
    cited: tuple[bytes, ...]
    rankings_digest: bytes
    msg: Signed


def make_synthesis(
    key: Ed25519PrivateKey,
    round_id: bytes,
    text: str,
    cited: Sequence[bytes],
    rankings_digest: bytes,
) -> Signed:
    """A signed SYNTHESIS message citing the answers' commitments in Borda order."""
    body = {
        "round_id": round_id.hex(),
        "text": text,
        "cited": [c.hex() for c in cited],
        "rankings": rankings_digest.hex(),
    }
    return encode(key, Kind.SYNTHESIS, body)


def _hex_list(body: dict[str, object], name: str, nbytes: int, max_items: int) -> tuple[bytes, ...]:
    return tuple(parse_hex(x, f"{name}[]", nbytes) for x in list_field(body, name, max_items))


def parse_synthesis(msg: Signed, rnd: Round) -> Synthesis:
    """Check the form of a SYNTHESIS message; raises ConvergeMessageError."""
    if msg.kind is not Kind.SYNTHESIS:
        raise ConvergeMessageError(f"expected a synthesis, got {msg.kind.value}")
    check_round_id(msg.body, rnd)
    return Synthesis(
        msg.signer,
        str_field(msg.body, "text", MAX_SYNTHESIS_BYTES),
        _hex_list(msg.body, "cited", 32, MAX_PARTICIPANTS),
        hex_field(msg.body, "rankings", 32),
        msg,
    )


@dataclass(frozen=True)
class Result:
    """The signed outcome of a round, as every participant receives it.

    ``raw`` is the asker-signed FINAL message; :func:`verify_result` checks it
    (and the chair's signature inside) on its own.
    """

    round_id: bytes
    asker: bytes
    question: str
    status: ResultStatus
    text: str
    chair: bytes | None
    cited: tuple[bytes, ...]
    scores: tuple[Score, ...]
    faults: tuple[Fault, ...]
    synthesis: Synthesis | None
    raw: bytes


def make_final(
    key: Ed25519PrivateKey,
    rnd: Round,
    status: ResultStatus,
    text: str,
    chair: bytes | None,
    scores: Sequence[Score],
    faults: Sequence[Fault],
    synthesis: Signed | None,
) -> Signed:
    """The asker's signed FINAL message."""
    body = {
        "round_id": rnd.round_id.hex(),
        "question": rnd.question,
        "status": status.value,
        "text": text,
        "chair": chair.hex() if chair else None,
        "cited": [s.commitment.hex() for s in scores],
        "scores": [[s.commitment.hex(), s.points, s.ballots] for s in scores],
        "faults": [f.to_wire() for f in faults],
        "synthesis": synthesis.raw.decode("utf-8") if synthesis else None,
    }
    return encode(key, Kind.FINAL, body)


def _score(item: object) -> Score:
    if not isinstance(item, list) or len(item) != 3:
        raise ConvergeMessageError("a score must be [commitment, points, ballots]")
    named = {"points": item[1], "ballots": item[2]}
    return Score(
        parse_hex(item[0], "scores[]", 32),
        int_field(named, "points", 0, 2**32),
        int_field(named, "ballots", 0, MAX_PARTICIPANTS),
    )


def verify_result(data: bytes, asker: bytes | None = None) -> Result:
    """Decode a FINAL message and check all its signatures; raises ConvergeMessageError.

    If ``asker`` is given, the FINAL must be signed by that key.
    """
    msg = decode_as(data, Kind.FINAL)
    if asker is not None and msg.signer != asker:
        raise ConvergeMessageError("the result is not signed by the asker")
    b = msg.body
    status = _status(b)
    chair_hex = field(b, "chair")
    chair = None if chair_hex is None else parse_hex(chair_hex, "chair", KEY_BYTES)
    scores = tuple(_score(x) for x in list_field(b, "scores", MAX_PARTICIPANTS))
    cited = _hex_list(b, "cited", 32, MAX_PARTICIPANTS)
    if cited != tuple(s.commitment for s in scores):
        raise ConvergeMessageError("cited answers and scores disagree")
    result = Result(
        round_id=hex_field(b, "round_id", ROUND_ID_BYTES),
        asker=msg.signer,
        question=str_field(b, "question", MAX_QUESTION_BYTES),
        status=status,
        text=str_field(b, "text", MAX_SYNTHESIS_BYTES),
        chair=chair,
        cited=cited,
        scores=scores,
        faults=tuple(Fault.from_wire(x) for x in list_field(b, "faults", MAX_FAULTS)),
        synthesis=_inner_synthesis(b, status, chair),
        raw=msg.raw,
    )
    if result.synthesis is not None and (
        result.synthesis.text != result.text or result.synthesis.cited != cited
    ):
        raise ConvergeMessageError("the result does not match the chair's synthesis")
    return result


def _status(body: dict[str, object]) -> ResultStatus:
    try:
        return ResultStatus(field(body, "status"))
    except (ValueError, TypeError) as exc:
        raise ConvergeMessageError("unknown result status") from exc


def _inner_synthesis(
    body: dict[str, object], status: ResultStatus, chair: bytes | None
) -> Synthesis | None:
    raw = field(body, "synthesis")
    if status is not ResultStatus.OK:
        if raw is not None:
            raise ConvergeMessageError("only an ok result carries a synthesis")
        return None
    if not isinstance(raw, str) or chair is None:
        raise ConvergeMessageError("an ok result needs the chair and its synthesis")
    inner = decode_as(raw.encode("utf-8"), Kind.SYNTHESIS)
    if inner.signer != chair:
        raise ConvergeMessageError("the synthesis is not signed by the chair")
    round_id = hex_field(body, "round_id", ROUND_ID_BYTES)
    if hex_field(inner.body, "round_id", ROUND_ID_BYTES) != round_id:
        raise ConvergeMessageError("the synthesis is for another round")
    return Synthesis(
        inner.signer,
        str_field(inner.body, "text", MAX_SYNTHESIS_BYTES),
        _hex_list(inner.body, "cited", 32, MAX_PARTICIPANTS),
        hex_field(inner.body, "rankings", 32),
        inner,
    )
