"""Shared set-up (no tests here) for handshake and session tests: keys and a fixed rng."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.session.handshake import HandshakeResult, InitiatorHandshake, ResponderHandshake
from gateway.session.offer import Offer

ONION = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd"


class CounterRng:
    """A deterministic rng: SHA-256(label || counter) blocks."""

    def __init__(self, label: bytes) -> None:
        self.label = label
        self.counter = 0

    def __call__(self, size: int) -> bytes:
        out = b""
        while len(out) < size:
            out += hashlib.sha256(self.label + self.counter.to_bytes(8, "big")).digest()
            self.counter += 1
        return out[:size]


@dataclass
class Peer:
    identity: Ed25519PrivateKey
    static: X25519PrivateKey

    @classmethod
    def make(cls, label: bytes) -> Peer:
        rng = CounterRng(label)
        return cls(
            Ed25519PrivateKey.from_private_bytes(rng(32)),
            X25519PrivateKey.from_private_bytes(rng(32)),
        )

    @property
    def identity_public(self) -> bytes:
        return self.identity.public_key().public_bytes_raw()

    @property
    def static_public(self) -> bytes:
        return self.static.public_key().public_bytes_raw()


ALICE = Peer.make(b"alice")
BOB = Peer.make(b"bob")


def pair(post_quantum: bool, seed: bytes = b"") -> tuple[InitiatorHandshake, ResponderHandshake]:
    initiator = InitiatorHandshake(
        ALICE.identity,
        ALICE.static,
        BOB.static_public,
        ONION,
        Offer(post_quantum=post_quantum),
        rng=CounterRng(b"i" + seed),
    )
    responder = ResponderHandshake(
        BOB.identity,
        BOB.static,
        ONION,
        Offer(post_quantum=post_quantum),
        rng=CounterRng(b"r" + seed),
    )
    return initiator, responder


def run(post_quantum: bool, seed: bytes = b"") -> tuple[HandshakeResult, HandshakeResult]:
    initiator, responder = pair(post_quantum, seed)
    m2 = responder.respond(initiator.start())
    m3 = initiator.receive(m2)
    return initiator.result, responder.finish(m3)
