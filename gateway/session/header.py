"""Ratchet message headers, in clear or encrypted.

Clear header (``HEADER_SIZE`` = 40 bytes)::

    dh (32, the sender's current X25519 ratchet public key)
    pn (4, big-endian: number of messages in the sender's previous sending chain)
    n  (4, big-endian: this message's number in the current sending chain)

Encrypted header (``ENCRYPTED_HEADER_SIZE`` = 80 bytes, header-encryption mode,
Double Ratchet spec section 4)::

    nonce (24, random) || XChaCha20-Poly1305(hk, nonce, clear header, ad=session AD) (40 + 16)

A whole message is ``header-bytes || ChaCha20-Poly1305 ciphertext || tag``, where
``header-bytes`` is the clear or the encrypted header; both have a fixed size, so
``session AD || header-bytes`` is an unambiguous encoding of the pair.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from gateway.errors import DecryptError
from gateway.session.aead import HEADER_NONCE_SIZE, TAG_SIZE, open_header, seal_header
from gateway.session.options import MAX_COUNTER as MAX_COUNTER

#: X25519 public key size
DH_SIZE = 32
#: size of a clear header
HEADER_SIZE = DH_SIZE + 8
#: size of an encrypted header
ENCRYPTED_HEADER_SIZE = HEADER_NONCE_SIZE + HEADER_SIZE + TAG_SIZE

_COUNTERS = struct.Struct("!II")
#: offset of ``n`` in a clear header
N_OFFSET = DH_SIZE + 4
#: ``pack_counters(pn, n)``: the 8 counter bytes of a clear header
pack_counters = _COUNTERS.pack
#: ``unpack_n(message, N_OFFSET)``: a 1-tuple ``(n,)`` of a message with a clear header
unpack_n = struct.Struct("!I").unpack_from


class Header(NamedTuple):
    """A decoded header."""

    dh: bytes
    pn: int
    n: int


def encode_header(dh: bytes, pn: int, n: int) -> bytes:
    """Encode a clear header (40 bytes)."""
    return dh + pack_counters(pn, n)


def decode_header(data: bytes) -> Header:
    """Decode a clear header; raises DecryptError if it is not exactly 40 bytes."""
    if len(data) != HEADER_SIZE:
        raise DecryptError(f"header must be {HEADER_SIZE} bytes, got {len(data)}")
    pn, n = _COUNTERS.unpack_from(data, DH_SIZE)
    return Header(data[:DH_SIZE], pn, n)


def encrypt_header(hk: bytes, header: bytes, ad: bytes, nonce: bytes) -> bytes:
    """Encrypt a clear header under header key ``hk`` with a fresh 24-byte ``nonce``."""
    return seal_header(hk, header, ad, nonce)


def decrypt_header(hk: bytes, blob: bytes, ad: bytes) -> Header | None:
    """Trial-decrypt an encrypted header; ``None`` if ``hk`` does not open it."""
    plain = open_header(hk, blob, ad)
    if plain is None or len(plain) != HEADER_SIZE:
        return None
    return decode_header(plain)
