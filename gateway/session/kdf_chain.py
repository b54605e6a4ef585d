"""The symmetric-key ratchet (KDF_CK) and the HKDF-SHA256 it shares with the other KDFs.

KDF_CK follows Signal's Double Ratchet specification, section 5.2 ("recommended
cryptographic algorithms"), exactly as libsignal implements it::

    message_key_seed = HMAC-SHA256(key=ck, data=0x01)
    next_chain_key   = HMAC-SHA256(key=ck, data=0x02)

Both outputs are 32 bytes. The seed is turned into an AEAD key and nonce by
:mod:`gateway.session.aead`. HMAC is RFC 2104 over :func:`hashlib.sha256`
with precomputed key states (:func:`hmac_states`), about twice as fast as
:func:`hmac.digest` here.

:func:`hkdf_sha256` is RFC 5869 HKDF with SHA-256 (extract, then expand),
built on the same HMAC; an empty salt means 32 zero bytes, as in RFC 5869.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash

#: HMAC input that yields the message-key seed
MESSAGE_KEY_CONSTANT = b"\x01"
#: HMAC input that yields the next chain key
CHAIN_KEY_CONSTANT = b"\x02"
#: size of chain keys, message-key seeds and HKDF's PRK
KEY_SIZE = 32

_HASH_LEN = 32
_BLOCK = 64
#: translation tables: a key byte XOR the HMAC ipad / opad byte
IPAD_TABLE = bytes(x ^ 0x36 for x in range(256))
OPAD_TABLE = bytes(x ^ 0x5C for x in range(256))
#: the padded tail of a 32-byte key, XOR ipad / opad
IPAD_TAIL = b"\x36" * (_BLOCK - _HASH_LEN)
OPAD_TAIL = b"\x5c" * (_BLOCK - _HASH_LEN)
_sha256 = hashlib.sha256
_EMPTY = _sha256()


def hmac_states(key: bytes) -> tuple[_Hash, _Hash]:
    """The inner and outer SHA-256 states of RFC 2104 HMAC under ``key``.

    Several MACs under one key (KDF_CK's two outputs, HKDF's blocks) then cost one
    state copy each instead of hashing the padded key again.
    """
    if len(key) == _HASH_LEN:
        # a copy of an empty state is cheaper than a new hash object
        inner = _EMPTY.copy()
        inner.update(key.translate(IPAD_TABLE))
        inner.update(IPAD_TAIL)
        outer = _EMPTY.copy()
        outer.update(key.translate(OPAD_TABLE))
        outer.update(OPAD_TAIL)
        return inner, outer
    if len(key) > _BLOCK:
        key = _sha256(key).digest()
    key = key.ljust(_BLOCK, b"\x00")
    return _sha256(key.translate(IPAD_TABLE)), _sha256(key.translate(OPAD_TABLE))


def hmac_with(states: tuple[_Hash, _Hash], msg: bytes) -> bytes:
    """HMAC-SHA256 of ``msg`` under the key whose :func:`hmac_states` are given."""
    inner = states[0].copy()
    inner.update(msg)
    outer = states[1].copy()
    outer.update(inner.digest())
    return outer.digest()


#: HMAC states of HKDF's default salt (32 zero bytes)
ZERO_SALT_STATES = hmac_states(bytes(_HASH_LEN))


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104)."""
    return hmac_with(hmac_states(key), msg)


def kdf_ck(chain_key: bytes) -> tuple[bytes, bytes]:
    """One step of a sending or receiving chain: returns ``(next_chain_key, message_key_seed)``."""
    inner, outer = hmac_states(chain_key)
    chain_inner = inner.copy()
    chain_inner.update(CHAIN_KEY_CONSTANT)
    chain_outer = outer.copy()
    chain_outer.update(chain_inner.digest())
    inner.update(MESSAGE_KEY_CONSTANT)
    outer.update(inner.digest())
    return chain_outer.digest(), outer.digest()


def hkdf_sha256(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SHA256 (extract, then expand) of ``length`` bytes (at most 255 * 32)."""
    prk = hmac_with(hmac_states(salt) if salt else ZERO_SALT_STATES, ikm)
    return hkdf_expand_sha256(prk, info, length)


def hkdf_expand_sha256(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-Expand with SHA-256 of ``length`` bytes (at most 255 * 32)."""
    if not 0 <= length <= 255 * _HASH_LEN:
        raise ValueError(f"HKDF-SHA256 output length {length} out of range")
    expand = hmac_states(prk)
    out: list[bytes] = []
    block = b""
    for counter in range(1, -(-length // _HASH_LEN) + 1):
        block = hmac_with(expand, block + info + bytes((counter,)))
        out.append(block)
    return b"".join(out)[:length]
