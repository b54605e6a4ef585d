"""The two AEADs of a ratchet message.

Message AEAD (ChaCha20-Poly1305, RFC 8439, from ``cryptography``). Each 32-byte
message-key seed ``mk`` from KDF_CK is expanded once::

    HKDF-Expand-SHA256(prk=mk, info=MESSAGE_INFO, 44 bytes)
      -> key = out[0:32], nonce = out[32:44]

that is, ``T1 = HMAC-SHA256(mk, MESSAGE_INFO || 0x01)``,
``T2 = HMAC-SHA256(mk, T1 || MESSAGE_INFO || 0x02)``, key = T1, nonce = T2[0:12].
HKDF-Extract is skipped as RFC 5869 section 3.3 allows when the input is already
a uniformly random key of hash length, which ``mk`` (an HMAC-SHA256 output) is;
this saves one HMAC per message. Every message has its own key, so the nonce is
never reused under a key.
Output: ``ciphertext || tag(16)``; the caller's associated data is
``session AD || header bytes`` (see :mod:`gateway.session.ratchet`).

Header AEAD (XChaCha20-Poly1305 IETF, from libsodium through PyNaCl). A header
key is used for a whole sending chain, so its nonce is a random 24-byte value
carried in the message::

    encrypted header = nonce(24) || XChaCha20-Poly1305(hk, nonce, header, ad)  # header + 16

The associated data of the header AEAD is the session AD.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError

from gateway.errors import DecryptError
from gateway.session.kdf_chain import (
    CHAIN_KEY_CONSTANT,
    IPAD_TABLE,
    IPAD_TAIL,
    MESSAGE_KEY_CONSTANT,
    OPAD_TABLE,
    OPAD_TAIL,
    hmac_states,
    hmac_with,
)

#: HKDF info label that expands a message-key seed into key and nonce
MESSAGE_INFO = b"gateway/v1 double-ratchet message key"
#: Poly1305 tag size (both AEADs)
TAG_SIZE = 16
#: XChaCha20-Poly1305 nonce size
HEADER_NONCE_SIZE = 24

_EMPTY = hashlib.sha256()
_ChaCha = ChaCha20Poly1305
_INFO_1 = MESSAGE_INFO + b"\x01"
_INFO_2 = MESSAGE_INFO + b"\x02"


def message_key_material(mk: bytes) -> tuple[bytes, bytes]:
    """Expand a message-key seed into ``(key(32), nonce(12))``.

    Equal to ``hkdf_expand_sha256(mk, MESSAGE_INFO, 44)``, unrolled for speed.
    """
    inner, outer = hmac_states(mk)
    key = hmac_with((inner, outer), _INFO_1)
    inner.update(key + _INFO_2)
    outer.update(inner.digest())
    return key, outer.digest()[:12]


def chain_step(chain_key: bytes) -> tuple[bytes, bytes, bytes]:
    """KDF_CK, then :func:`message_key_material`: ``(next_chain_key, key, nonce)``.

    The hot path of every message, written out to save calls: the HMAC states of the
    32-byte keys are made inline, from a copy of an empty SHA-256 state (cheaper than a
    new hash object). Equal to ``kdf_ck`` followed by ``message_key_material``
    (checked by the unit tests).
    """
    inner = _EMPTY.copy()
    inner.update(chain_key.translate(IPAD_TABLE))
    inner.update(IPAD_TAIL)
    outer = _EMPTY.copy()
    outer.update(chain_key.translate(OPAD_TABLE))
    outer.update(OPAD_TAIL)
    step = inner.copy()
    step.update(CHAIN_KEY_CONSTANT)
    out = outer.copy()
    out.update(step.digest())
    next_chain_key = out.digest()
    inner.update(MESSAGE_KEY_CONSTANT)
    outer.update(inner.digest())
    mk = outer.digest()
    inner = _EMPTY.copy()
    inner.update(mk.translate(IPAD_TABLE))
    inner.update(IPAD_TAIL)
    outer = _EMPTY.copy()
    outer.update(mk.translate(OPAD_TABLE))
    outer.update(OPAD_TAIL)
    step = inner.copy()
    step.update(_INFO_1)
    out = outer.copy()
    out.update(step.digest())
    key = out.digest()
    inner.update(key)
    inner.update(_INFO_2)
    outer.update(inner.digest())
    return next_chain_key, key, outer.digest()[:12]


def seal_next(chain_key: bytes, plaintext: bytes, ad: bytes) -> tuple[bytes, bytes]:
    """:func:`chain_step` and :func:`seal` in one call: ``(next_chain_key, ciphertext || tag)``."""
    next_chain_key, key, nonce = chain_step(chain_key)
    return next_chain_key, _ChaCha(key).encrypt(nonce, plaintext, ad)


def open_next(chain_key: bytes, ciphertext: bytes, ad: bytes) -> tuple[bytes, bytes]:
    """:func:`chain_step` and :func:`open_sealed` in one call: ``(next_chain_key, plaintext)``.

    Raises DecryptError on any tampering.
    """
    next_chain_key, key, nonce = chain_step(chain_key)
    try:
        return next_chain_key, _ChaCha(key).decrypt(nonce, ciphertext, ad)
    except InvalidTag:
        raise DecryptError("message authentication failed") from None


def seal(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    """ChaCha20-Poly1305 encryption: ciphertext || tag."""
    return ChaCha20Poly1305(key).encrypt(nonce, plaintext, ad)


def open_sealed(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    """ChaCha20-Poly1305 decryption; raises DecryptError on any tampering."""
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, ad)
    except InvalidTag:
        raise DecryptError("message authentication failed") from None


def seal_message(mk: bytes, plaintext: bytes, ad: bytes) -> bytes:
    """Encrypt ``plaintext`` under a message-key seed; returns ciphertext || tag."""
    return seal(*message_key_material(mk), plaintext, ad)


def open_message(mk: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    """Decrypt under a message-key seed; raises DecryptError on any tampering."""
    return open_sealed(*message_key_material(mk), ciphertext, ad)


def seal_header(hk: bytes, header: bytes, ad: bytes, nonce: bytes) -> bytes:
    """Encrypt a header: ``nonce || ciphertext || tag``."""
    if len(nonce) != HEADER_NONCE_SIZE:
        raise ValueError(f"header nonce must be {HEADER_NONCE_SIZE} bytes")
    return nonce + bytes(crypto_aead_xchacha20poly1305_ietf_encrypt(header, ad, nonce, hk))


def open_header(hk: bytes, blob: bytes, ad: bytes) -> bytes | None:
    """Decrypt an encrypted header; ``None`` when ``hk`` is not the key it was sealed with."""
    if len(blob) < HEADER_NONCE_SIZE + TAG_SIZE:
        return None
    try:
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(
            blob[HEADER_NONCE_SIZE:], ad, blob[:HEADER_NONCE_SIZE], hk
        )
    except CryptoError:
        return None
    return bytes(plain)
