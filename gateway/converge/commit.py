"""Commit-reveal of answers: a participant commits to H(answer || nonce) before revealing.

The commitment also binds the round id and the author, so that nobody can copy
another participant's commitment and later reveal that participant's answer.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.messages import Kind, Signed, encode, hex_field, str_field
from gateway.converge.round import MAX_ANSWER_BYTES, Round, check_round_id
from gateway.errors import ConvergeMessageError, NotParticipantError

NONCE_BYTES = 32
COMMIT_BYTES = 32
_DOMAIN = b"gateway/converge/commit\x00"


def commitment(round_id: bytes, author: bytes, answer: str, nonce: bytes) -> bytes:
    """H(domain || round id || author || len(answer) || answer || nonce) with SHA-256."""
    data = answer.encode("utf-8")
    h = hashlib.sha256(_DOMAIN)
    for part in (round_id, author, len(data).to_bytes(8, "big"), data, nonce):
        h.update(part)
    return h.digest()


@dataclass(frozen=True)
class Commit:
    author: bytes
    commitment: bytes
    msg: Signed


@dataclass(frozen=True)
class Reveal:
    author: bytes
    answer: str
    nonce: bytes
    msg: Signed

    @property
    def commitment(self) -> bytes:
        """The commitment this reveal opens (recomputed)."""
        return commitment(self.msg_round_id, self.author, self.answer, self.nonce)

    @property
    def msg_round_id(self) -> bytes:
        return bytes.fromhex(self.msg.body["round_id"])


def make_commit(key: Ed25519PrivateKey, round_id: bytes, value: bytes) -> Signed:
    """A signed COMMIT message."""
    return encode(key, Kind.COMMIT, {"round_id": round_id.hex(), "commitment": value.hex()})


def make_reveal(key: Ed25519PrivateKey, round_id: bytes, answer: str, nonce: bytes) -> Signed:
    """A signed REVEAL message."""
    body = {"round_id": round_id.hex(), "answer": answer, "nonce": nonce.hex()}
    return encode(key, Kind.REVEAL, body)


def _check_author(msg: Signed, rnd: Round) -> None:
    if msg.signer not in rnd.participants:
        raise NotParticipantError("signer is not a participant of the round")
    check_round_id(msg.body, rnd)


def parse_commit(msg: Signed, rnd: Round) -> Commit:
    """Check a decoded COMMIT; raises ConvergeMessageError."""
    if msg.kind is not Kind.COMMIT:
        raise ConvergeMessageError(f"expected a commit, got {msg.kind.value}")
    _check_author(msg, rnd)
    return Commit(msg.signer, hex_field(msg.body, "commitment", COMMIT_BYTES), msg)


def parse_reveal(msg: Signed, rnd: Round) -> Reveal:
    """Check a decoded REVEAL (not yet against its commit); raises ConvergeMessageError."""
    if msg.kind is not Kind.REVEAL:
        raise ConvergeMessageError(f"expected a reveal, got {msg.kind.value}")
    _check_author(msg, rnd)
    answer = str_field(msg.body, "answer", min(rnd.max_answer_bytes, MAX_ANSWER_BYTES))
    return Reveal(msg.signer, answer, hex_field(msg.body, "nonce", NONCE_BYTES), msg)


def opens(reveal: Reveal, commit: Commit) -> bool:
    """True if ``reveal`` opens ``commit`` (same author, matching hash)."""
    return reveal.author == commit.author and hmac.compare_digest(
        reveal.commitment, commit.commitment
    )
