"""Replay the session transcript vectors (tests/vectors/session_*.json) byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.config.schema import PaddingMode
from gateway.session.handshake import HandshakeResult, InitiatorHandshake, ResponderHandshake
from gateway.session.offer import Offer, stronger
from gateway.session.ratchet import RatchetParams
from gateway.session.session import DataReceived, Session, SessionOptions

VECTORS = Path(__file__).parents[2] / "vectors"
LEVELS = ["standard", "paranoid", "mixed"]


class ListRng:
    """Returns the recorded random strings in order; each draw must have the recorded size."""

    def __init__(self, values: list[str]) -> None:
        self.values = [bytes.fromhex(v) for v in values]
        self.used = 0

    def __call__(self, size: int) -> bytes:
        value = self.values[self.used]
        assert len(value) == size, f"draw {self.used}: asked {size}, recorded {len(value)}"
        self.used += 1
        return value

    def exhausted(self) -> bool:
        return self.used == len(self.values)


def _load(level: str) -> dict[str, Any]:
    return dict(json.loads((VECTORS / f"session_{level}.json").read_text()))


def _handshake(v: dict[str, Any]) -> tuple[HandshakeResult, HandshakeResult]:
    keys = {name: bytes.fromhex(value) for name, value in v["keys"].items()}
    hs = v["handshake"]
    rng_i, rng_r = ListRng(hs["rng_initiator"]), ListRng(hs["rng_responder"])
    kem = [(bytes.fromhex(c["shared_secret"]), bytes.fromhex(c["ciphertext"])) for c in
           hs["mlkem_encapsulations"]]  # fmt: skip

    def encapsulate(_key: bytes) -> tuple[bytes, bytes]:
        return kem.pop(0)

    bob_static = X25519PrivateKey.from_private_bytes(keys["bob_static"])
    initiator = InitiatorHandshake(
        Ed25519PrivateKey.from_private_bytes(keys["alice_identity"]),
        X25519PrivateKey.from_private_bytes(keys["alice_static"]),
        bob_static.public_key().public_bytes_raw(),
        v["onion"],
        Offer.decode(v["offer_initiator"]),
        rng=rng_i,
    )
    responder = ResponderHandshake(
        Ed25519PrivateKey.from_private_bytes(keys["bob_identity"]),
        bob_static,
        v["onion"],
        Offer.decode(v["offer_responder"]),
        rng=rng_r,
        encapsulate=encapsulate,
    )
    m1 = initiator.start()
    m2 = responder.respond(m1)
    m3 = initiator.receive(m2)
    assert [m.hex() for m in (m1, m2, m3)] == hs["messages"]
    result = responder.finish(m3)
    assert rng_i.exhausted() and rng_r.exhausted() and not kem
    return initiator.result, result


@pytest.mark.parametrize("level", LEVELS)
def test_handshake_transcript(level: str) -> None:
    v = _load(level)
    a, b = _handshake(v)
    hs = v["handshake"]
    for result in (a, b):
        assert result.handshake_hash.hex() == hs["handshake_hash"]
        assert result.sk.hex() == hs["sk"]
        assert result.shared_hka.hex() == hs["shared_hka"]
        assert result.shared_nhkb.hex() == hs["shared_nhkb"]
        assert result.ratchet_public.hex() == hs["ratchet_public"]
    assert bool(hs["mlkem_encapsulations"]) == v["post_quantum"]
    agreed = stronger(Offer.decode(v["offer_initiator"]), Offer.decode(v["offer_responder"]))
    assert a.session_offer == b.session_offer == agreed
    assert (agreed.padding_mode.value, agreed.header_encryption, agreed.post_quantum) == (
        v["padding_mode"],
        v["header_encryption"],
        v["post_quantum"],
    )


def _ignore(_blob: bytes, _records: list[bytes]) -> None:
    pass


@pytest.mark.parametrize("level", LEVELS)
def test_session_transcript(level: str) -> None:
    v = _load(level)
    a, b = _handshake(v)
    options = SessionOptions(
        PaddingMode(v["padding_mode"]), RatchetParams(header_encryption=v["header_encryption"])
    )
    rng_a, rng_b = ListRng(v["rng_alice_ratchet"]), ListRng(v["rng_bob_ratchet"])
    alice = Session.from_handshake(a, options, rng=rng_a)
    bob = Session.from_handshake(b, options, rng=rng_b)
    peers = {"alice": (alice, bob), "bob": (bob, alice)}
    records = v["records"]
    for step in v["schedule"]:
        for index in step["seal"]:
            sender = peers[records[index]["from"]][0]
            (record,) = sender.seal(bytes.fromhex(records[index]["payload"]), _ignore)
            assert record.hex() == records[index]["record"]
        for index in step["open"]:
            receiver = peers[records[index]["from"]][1]
            events = receiver.open(bytes.fromhex(records[index]["record"]), _ignore)
            assert events == [DataReceived(bytes.fromhex(records[index]["payload"]))]
    assert alice.to_bytes().hex() == v["alice_state"]
    assert bob.to_bytes().hex() == v["bob_state"]
    assert rng_a.exhausted() and rng_b.exhausted()


def test_the_transcripts_cover_a_dh_step_and_reordering() -> None:
    for level in LEVELS:
        v = _load(level)
        senders = [r["from"] for r in v["records"]]
        assert senders.count("bob") >= 1 and senders[-2:] == ["alice", "alice"]
        opened = [i for step in v["schedule"] for i in step["open"]]
        assert opened != sorted(opened)
