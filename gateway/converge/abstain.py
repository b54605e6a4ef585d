"""ABSTAIN: a participant says its AI failed at a stage, so nobody waits for it."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.messages import Kind, Signed, encode, field, str_field
from gateway.converge.round import Round, Stage, check_round_id
from gateway.errors import ConvergeMessageError

MAX_REASON_BYTES = 200


@dataclass(frozen=True)
class Abstain:
    author: bytes
    stage: Stage
    reason: str


def make_abstain(key: Ed25519PrivateKey, round_id: bytes, stage: Stage, reason: str) -> Signed:
    """A signed ABSTAIN for ``stage`` (the reason is cut to fit)."""
    short = reason.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", "ignore")
    body = {"round_id": round_id.hex(), "stage": stage.value, "reason": short}
    return encode(key, Kind.ABSTAIN, body)


def parse_abstain(msg: Signed, rnd: Round) -> Abstain:
    """Check a decoded ABSTAIN; raises ConvergeMessageError."""
    check_round_id(msg.body, rnd)
    try:
        stage = Stage(field(msg.body, "stage"))
    except (ValueError, TypeError) as exc:
        raise ConvergeMessageError("abstain names an unknown stage") from exc
    if stage is Stage.DONE:
        raise ConvergeMessageError("cannot abstain from the done stage")
    return Abstain(msg.signer, stage, str_field(msg.body, "reason", MAX_REASON_BYTES))
