"""Stage 2: every reviewer ranks the other answers under labels shuffled just for it.

The labels a reviewer sees are derived from the round id and the reviewer's key,
so anyone can recompute them; the reviewer's own answer is left out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.messages import Kind, Signed, encode, hex_field, list_field
from gateway.converge.round import QUESTION_MARK, Round, check_round_id
from gateway.errors import AdapterOutputError, ConvergeMessageError, NotParticipantError

REVIEW_HEADER = "[council: review]"
RANKING_MARK = "RANKING:"
_DOMAIN = b"gateway/converge/labels\x00"
_LABEL_RE = re.compile(r"\b[A-Z]{1,2}\b")


def label(i: int) -> str:
    """The i-th label: A..Z, then AA, AB, ... (bijective base 26)."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("A") + r) + out
    return out


def _stream(seed: bytes) -> Iterator[int]:
    counter = 0
    while True:
        block = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
        for off in range(0, 32, 8):
            yield int.from_bytes(block[off : off + 8], "big")


def _below(stream: Iterator[int], n: int) -> int:
    limit = (2**64 // n) * n  # reject the biased tail
    while True:
        value = next(stream)
        if value < limit:
            return value % n


def shuffled(seed: bytes, items: Sequence[bytes]) -> list[bytes]:
    """A deterministic Fisher-Yates shuffle of ``sorted(items)`` keyed by ``seed``."""
    out = sorted(items)
    stream = _stream(seed)
    for i in range(len(out) - 1, 0, -1):
        j = _below(stream, i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def label_map(
    round_id: bytes, reviewer: bytes, revealed: Mapping[bytes, bytes]
) -> dict[str, bytes]:
    """Labels the reviewer sees, to the commitments they stand for (own answer excluded).

    ``revealed`` maps each author who revealed to the commitment of the answer.
    """
    others = [c for author, c in revealed.items() if author != reviewer]
    seed = hashlib.sha256(_DOMAIN + round_id + reviewer).digest()
    return {label(i): c for i, c in enumerate(shuffled(seed, others))}


def review_prompt(rnd: Round, labels: Mapping[str, bytes], answers: Mapping[bytes, str]) -> str:
    """The prompt for a reviewer's AI: the question and the labelled answers, authors hidden."""
    parts = [
        f"{REVIEW_HEADER}\n"
        "You review answers that other council members gave to the question below. "
        "Authors are hidden. Rank all answers from best to worst by the rubric.\n"
        f"Reply with one line: {RANKING_MARK} <labels, best first, separated by '>'>.\n"
        f"RUBRIC: {rnd.rubric}\n"
        f"{QUESTION_MARK}\n{rnd.question}\n"
    ]
    for lab, c in labels.items():
        parts.append(f"--- ANSWER {lab} ---\n{answers[c]}\n")
    parts.append("--- END ---\n")
    return "".join(parts)


def parse_ai_ranking(text: str, labels: Sequence[str]) -> list[str]:
    """Read an AI's ranking leniently: labels in order, unknown ones dropped, missing appended.

    Raises AdapterOutputError if the text names none of the labels.
    """
    lines = [ln for ln in text.splitlines() if RANKING_MARK in ln.upper()]
    source = lines[-1].upper().split(RANKING_MARK, 1)[1] if lines else text
    valid = set(labels)
    found: list[str] = []
    for token in _LABEL_RE.findall(source):
        if token in valid and token not in found:
            found.append(token)
    if not found:
        raise AdapterOutputError("the review names none of the answer labels")
    return found + [lab for lab in labels if lab not in found]


@dataclass(frozen=True)
class Ranking:
    """A reviewer's ranking, mapped back from labels to commitments (best first)."""

    reviewer: bytes
    order: tuple[bytes, ...]
    msg: Signed


def make_ranking(
    key: Ed25519PrivateKey, round_id: bytes, reveals_digest: bytes, order: Sequence[str]
) -> Signed:
    """A signed RANKING message (labels, best first)."""
    body = {"round_id": round_id.hex(), "reveals": reveals_digest.hex(), "order": list(order)}
    return encode(key, Kind.RANKING, body)


def parse_ranking(
    msg: Signed, rnd: Round, revealed: Mapping[bytes, bytes], reveals_digest: bytes
) -> Ranking:
    """Check a RANKING against the published reveals; raises ConvergeMessageError."""
    if msg.kind is not Kind.RANKING:
        raise ConvergeMessageError(f"expected a ranking, got {msg.kind.value}")
    if msg.signer not in revealed:
        raise NotParticipantError("only participants whose answer was revealed may rank")
    check_round_id(msg.body, rnd)
    if hex_field(msg.body, "reveals", 32) != reveals_digest:
        raise ConvergeMessageError("ranking refers to other reveals")
    labels = label_map(rnd.round_id, msg.signer, revealed)
    order = list_field(msg.body, "order", len(labels))
    if not all(isinstance(x, str) for x in order) or sorted(order) != sorted(labels):
        raise ConvergeMessageError("ranking must order every label exactly once")
    return Ranking(msg.signer, tuple(labels[lab] for lab in order), msg)
