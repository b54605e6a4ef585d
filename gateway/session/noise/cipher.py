"""The Noise cipher function ChaChaPoly (spec rev 34, section 5.1 and 12.3).

ChaCha20-Poly1305 of RFC 8439 with a 96-bit nonce made of 32 zero bits
followed by the 64-bit little-endian counter ``n``.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from gateway.errors import DecryptError

KEYLEN = 32
TAGLEN = 16
#: the nonce 2^64-1 is reserved for REKEY (section 4.2)
MAX_NONCE = 2**64 - 1


def _nonce(n: int) -> bytes:
    return b"\x00\x00\x00\x00" + struct.pack("<Q", n)


class ChaChaPoly:
    """ENCRYPT, DECRYPT and REKEY of the ChaChaPoly cipher function."""

    name = "ChaChaPoly"

    @staticmethod
    def encrypt(k: bytes, n: int, ad: bytes, plaintext: bytes) -> bytes:
        """ENCRYPT(k, n, ad, plaintext): ciphertext followed by a 16-byte tag."""
        return ChaCha20Poly1305(k).encrypt(_nonce(n), plaintext, ad)

    @staticmethod
    def decrypt(k: bytes, n: int, ad: bytes, ciphertext: bytes) -> bytes:
        """DECRYPT(k, n, ad, ciphertext); raises DecryptError if authentication fails."""
        if len(ciphertext) < TAGLEN:
            raise DecryptError("ciphertext shorter than the 16-byte tag")
        try:
            return ChaCha20Poly1305(k).decrypt(_nonce(n), ciphertext, ad)
        except InvalidTag as exc:
            raise DecryptError("AEAD authentication failed") from exc

    @classmethod
    def rekey(cls, k: bytes) -> bytes:
        """REKEY(k): the first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zero bytes)."""
        return cls.encrypt(k, MAX_NONCE, b"", bytes(32))[:KEYLEN]


CIPHERS: dict[str, type[ChaChaPoly]] = {ChaChaPoly.name: ChaChaPoly}
