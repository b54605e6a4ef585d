"""ML-KEM-768 (FIPS 203) for the hybrid post-quantum step of the handshake.

Key pairs are made from a 64-byte seed (d || z of FIPS 203), so key generation
is deterministic given its randomness. ``cryptography`` takes no randomness for
encapsulation, so encapsulation is injectable as an :data:`Encapsulator`
instead (the transcript vectors record its outputs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey

from gateway.errors import HandshakeError, SessionStateError

SEED_LEN = 64
ENCAPSULATION_KEY_LEN = 1184
CIPHERTEXT_LEN = 1088
SHARED_SECRET_LEN = 32

#: encapsulate(encapsulation_key) -> (shared_secret, ciphertext)
Encapsulator = Callable[[bytes], tuple[bytes, bytes]]


@dataclass(frozen=True)
class KemKeyPair:
    """An ML-KEM-768 decapsulation seed and its encapsulation key."""

    seed: bytes = field(repr=False)
    encapsulation_key: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> KemKeyPair:
        """The key pair of a 64-byte seed (ML-KEM.KeyGen_internal(d, z))."""
        if len(seed) != SEED_LEN:
            raise SessionStateError(f"an ML-KEM seed is {SEED_LEN} bytes")
        private = MLKEM768PrivateKey.from_seed_bytes(seed)
        return cls(seed, private.public_key().public_bytes_raw())

    def decapsulate(self, ciphertext: bytes) -> bytes:
        """ML-KEM.Decaps: the shared secret (implicit rejection for a wrong ciphertext)."""
        if len(ciphertext) != CIPHERTEXT_LEN:
            raise HandshakeError(f"an ML-KEM-768 ciphertext is {CIPHERTEXT_LEN} bytes")
        try:
            return MLKEM768PrivateKey.from_seed_bytes(self.seed).decapsulate(ciphertext)
        except ValueError as exc:
            raise HandshakeError("ML-KEM-768 decapsulation failed") from exc


def generate_kem_keypair(rng: Callable[[int], bytes] = os.urandom) -> KemKeyPair:
    """A new key pair from 64 bytes of ``rng``."""
    return KemKeyPair.from_seed(rng(SEED_LEN))


def encapsulate(encapsulation_key: bytes) -> tuple[bytes, bytes]:
    """ML-KEM.Encaps: (shared secret, ciphertext); HandshakeError for an invalid key.

    The key is checked as FIPS 203 section 7.2 requires (length and modulus).
    """
    if len(encapsulation_key) != ENCAPSULATION_KEY_LEN:
        raise HandshakeError(f"an ML-KEM-768 encapsulation key is {ENCAPSULATION_KEY_LEN} bytes")
    try:
        public = MLKEM768PublicKey.from_public_bytes(encapsulation_key)
        return public.encapsulate()
    except ValueError as exc:
        raise HandshakeError("invalid ML-KEM-768 encapsulation key") from exc
