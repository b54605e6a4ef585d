"""Generate tests/vectors/session_{standard,paranoid,mixed}.json: full session transcripts.

Every input is fixed: long-term keys and every random byte string are derived
from labels with SHA-256 and written into the vector as explicit lists, in the
order each side draws them. Only ML-KEM encapsulation cannot be fixed (the
``cryptography`` API takes no randomness for it), so the generator records its
output (shared secret and ciphertext) and the replay injects it. Run:

    .venv/bin/python scripts/gen_session_vectors.py
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.config.schema import PaddingMode
from gateway.session import pq
from gateway.session.handshake import InitiatorHandshake, ResponderHandshake
from gateway.session.offer import Offer
from gateway.session.ratchet import RatchetParams
from gateway.session.session import DataReceived, Session, SessionOptions

OUT = Path(__file__).resolve().parents[1] / "tests" / "vectors"
ONION = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd"

STANDARD = Offer(False, False, PaddingMode.PADME_CELLS)
HIGH = Offer(False, True, PaddingMode.BUCKETS)
PARANOID = Offer(True, True, PaddingMode.FIXED)
#: vector name -> (initiator's offer, responder's offer); "mixed" is a standard initiator
#: and a high responder: the session takes the stronger offer (buckets, header encryption)
LEVELS = {
    "standard": (STANDARD, STANDARD),
    "paranoid": (PARANOID, PARANOID),
    "mixed": (STANDARD, HIGH),
}


def fixed(label: str, size: int) -> bytes:
    """``size`` bytes derived from a label (SHA-256 in counter mode)."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return out[:size]


@dataclass
class RecordingRng:
    """An rng whose outputs are derived from a label and recorded in order."""

    label: str
    drawn: list[str] = field(default_factory=list)

    def __call__(self, size: int) -> bytes:
        value = fixed(f"{self.label}/{len(self.drawn)}", size)
        self.drawn.append(value.hex())
        return value


@dataclass
class RecordingEncapsulator:
    """Wraps pq.encapsulate and records its output."""

    calls: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, key: bytes) -> tuple[bytes, bytes]:
        secret, ciphertext = pq.encapsulate(key)
        self.calls.append({"shared_secret": secret.hex(), "ciphertext": ciphertext.hex()})
        return secret, ciphertext


def _keys() -> dict[str, str]:
    names = ("alice_identity", "alice_static", "bob_identity", "bob_static")
    return {name: fixed(name, 32).hex() for name in names}


def _handshake(level: str, offers: tuple[Offer, Offer], keys: dict[str, str]) -> dict[str, Any]:
    ed = Ed25519PrivateKey.from_private_bytes
    x = X25519PrivateKey.from_private_bytes
    bob_static = x(bytes.fromhex(keys["bob_static"]))
    rng_i, rng_r = RecordingRng(f"{level}/initiator"), RecordingRng(f"{level}/responder")
    encapsulate = RecordingEncapsulator()
    initiator = InitiatorHandshake(
        ed(bytes.fromhex(keys["alice_identity"])), x(bytes.fromhex(keys["alice_static"])),
        bob_static.public_key().public_bytes_raw(), ONION, offers[0], rng=rng_i,
    )  # fmt: skip
    responder = ResponderHandshake(
        ed(bytes.fromhex(keys["bob_identity"])), bob_static, ONION, offers[1],
        rng=rng_r, encapsulate=encapsulate,
    )  # fmt: skip
    m1 = initiator.start()
    m2 = responder.respond(m1)
    m3 = initiator.receive(m2)
    result = responder.finish(m3)
    return {
        "objects": (initiator.result, result),
        "json": {
            "rng_initiator": rng_i.drawn,
            "rng_responder": rng_r.drawn,
            "mlkem_encapsulations": encapsulate.calls,
            "messages": [m1.hex(), m2.hex(), m3.hex()],
            "handshake_hash": result.handshake_hash.hex(),
            "sk": result.sk.hex(),
            "shared_hka": result.shared_hka.hex(),
            "shared_nhkb": result.shared_nhkb.hex(),
            "ratchet_public": result.ratchet_public.hex(),
        },
    }


# the transcript: records are sealed in this order; DELIVERY is the order they are opened
STEPS = [
    ("alice", b"first message from the initiator"),
    ("bob", b"first reply: the responder's DH ratchet step"),
    ("alice", b"third: a new initiator ratchet key"),
    ("alice", b"fourth, delivered before the third"),
]
#: (seal these step indexes, then open these step indexes)
SCHEDULE = [([0], [0]), ([1], [1]), ([2, 3], [3, 2])]


def _session(level: str, offers: tuple[Offer, Offer]) -> dict[str, Any]:
    keys = _keys()
    hs = _handshake(level, offers, keys)
    a_result, b_result = hs["objects"]
    agreed = a_result.session_offer
    assert agreed == b_result.session_offer
    mode, he, pq_flag = agreed.padding_mode, agreed.header_encryption, agreed.post_quantum
    options = SessionOptions(mode, RatchetParams(header_encryption=he))
    rng_a, rng_b = RecordingRng(f"{level}/alice-ratchet"), RecordingRng(f"{level}/bob-ratchet")
    alice = Session.from_handshake(a_result, options, rng=rng_a)
    bob = Session.from_handshake(b_result, options, rng=rng_b)
    peers = {"alice": (alice, bob), "bob": (bob, alice)}
    records: list[dict[str, str]] = []
    for seal_steps, open_steps in SCHEDULE:
        for index in seal_steps:
            sender, payload = STEPS[index]
            record = peers[sender][0].seal(payload, _ignore)[0]
            records.append({"from": sender, "payload": payload.hex(), "record": record.hex()})
        for index in open_steps:
            step = records[index]
            events = peers[step["from"]][1].open(bytes.fromhex(step["record"]), _ignore)
            assert events == [DataReceived(bytes.fromhex(step["payload"]))]
    return {
        "description": (
            "gateway session transcript, a standard initiator and a high responder"
            if level == "mixed"
            else f"gateway session transcript at level {level}"
        )
        + " (see docs/PROTOCOL.md)",
        "onion": ONION,
        "offer_initiator": offers[0].encode(),
        "offer_responder": offers[1].encode(),
        "padding_mode": mode.value,
        "header_encryption": he,
        "post_quantum": pq_flag,
        "keys": keys,
        "handshake": hs["json"],
        "rng_alice_ratchet": rng_a.drawn,
        "rng_bob_ratchet": rng_b.drawn,
        "records": records,
        "schedule": [{"seal": a, "open": b} for a, b in SCHEDULE],
        "alice_state": alice.to_bytes().hex(),
        "bob_state": bob.to_bytes().hex(),
    }


def _ignore(_blob: bytes, _records: list[bytes]) -> None:
    """No persistence in the generator."""


def main() -> None:
    for level, offers in LEVELS.items():
        path = OUT / f"session_{level}.json"
        path.write_text(json.dumps(_session(level, offers), indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
