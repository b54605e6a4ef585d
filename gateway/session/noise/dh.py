"""The Noise DH function 25519 (spec rev 34, section 12.1): X25519 of RFC 7748."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from gateway.errors import HandshakeError, SessionStateError

DHLEN = 32

#: a source of random bytes: rng(n) returns n bytes
Rng = Callable[[int], bytes]


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair as raw 32-byte strings."""

    private: bytes = field(repr=False)
    public: bytes
    #: the loaded private key (kept so that each DH does not parse it again)
    key: X25519PrivateKey = field(repr=False, compare=False)

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        """The key pair whose private key is the 32 bytes ``private``."""
        if len(private) != DHLEN:
            raise SessionStateError("an X25519 private key is 32 bytes")
        key = X25519PrivateKey.from_private_bytes(private)
        return cls(private, key.public_key().public_bytes_raw(), key)

    @classmethod
    def from_key(cls, key: X25519PrivateKey) -> KeyPair:
        """The key pair of a ``cryptography`` private key object."""
        return cls.from_private(key.private_bytes_raw())


def generate_keypair(rng: Rng = os.urandom) -> KeyPair:
    """GENERATE_KEYPAIR(): a new key pair from 32 bytes of ``rng``."""
    return KeyPair.from_private(rng(DHLEN))


def dh(key_pair: KeyPair, public_key: bytes) -> bytes:
    """DH(key_pair, public_key): the X25519 shared secret.

    Raises HandshakeError for a public key of the wrong length or one that
    gives the all-zero output (a low-order point).
    """
    if len(public_key) != DHLEN:
        raise HandshakeError(f"an X25519 public key is {DHLEN} bytes, got {len(public_key)}")
    try:
        peer = X25519PublicKey.from_public_bytes(public_key)
        return key_pair.key.exchange(peer)
    except ValueError as exc:
        raise HandshakeError("X25519 with a low-order public key") from exc
