"""Wycheproof ChaCha20-Poly1305 and XChaCha20-Poly1305 vectors.

ChaCha20-Poly1305 is checked through ``cryptography`` (the primitive under the
Noise cipher and the ratchet's message AEAD) and, where the nonce has the Noise
form (4 zero bytes || LE counter), through the Noise ChaChaPoly cipher itself.
XChaCha20-Poly1305 is checked through the ratchet's header AEAD (24-byte nonces)
and through PyNaCl's binding for every other nonce size (all must be refused).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError
from nacl.exceptions import ValueError as NaclValueError

from gateway.errors import DecryptError
from gateway.session.aead import open_header, seal_header
from gateway.session.noise.cipher import ChaChaPoly

WYCHEPROOF = Path(__file__).parents[2] / "vectors" / "wycheproof"


def _cases(name: str) -> list[dict[str, Any]]:
    data = json.loads((WYCHEPROOF / name).read_text())
    return [dict(test) for group in data["testGroups"] for test in group["tests"]]


CHACHA = _cases("chacha20_poly1305_test.json")
XCHACHA = _cases("xchacha20_poly1305_test.json")


def _hex(case: dict[str, Any], *names: str) -> list[bytes]:
    return [bytes.fromhex(case[name]) for name in names]


@pytest.mark.parametrize("case", CHACHA, ids=[str(c["tcId"]) for c in CHACHA])
def test_chacha20_poly1305(case: dict[str, Any]) -> None:
    key, iv, aad, msg, ct, tag = _hex(case, "key", "iv", "aad", "msg", "ct", "tag")
    if len(iv) != 12:
        assert case["result"] == "invalid"
        with pytest.raises(ValueError):
            ChaCha20Poly1305(key).encrypt(iv, msg, aad)
        return
    aead = ChaCha20Poly1305(key)
    if case["result"] == "valid":
        assert aead.encrypt(iv, msg, aad) == ct + tag
        assert aead.decrypt(iv, ct + tag, aad) == msg
    else:
        with pytest.raises(InvalidTag):
            aead.decrypt(iv, ct + tag, aad)


NOISE_FORM = [c for c in CHACHA if c["iv"].startswith("00000000") and len(c["iv"]) == 24]


@pytest.mark.parametrize("case", NOISE_FORM, ids=[str(c["tcId"]) for c in NOISE_FORM])
def test_chacha20_poly1305_through_noise_cipher(case: dict[str, Any]) -> None:
    key, iv, aad, msg, ct, tag = _hex(case, "key", "iv", "aad", "msg", "ct", "tag")
    (n,) = struct.unpack("<Q", iv[4:])
    if case["result"] == "valid":
        assert ChaChaPoly.encrypt(key, n, aad, msg) == ct + tag
        assert ChaChaPoly.decrypt(key, n, aad, ct + tag) == msg
    else:
        with pytest.raises(DecryptError):
            ChaChaPoly.decrypt(key, n, aad, ct + tag)


def test_some_vectors_have_the_noise_nonce_form() -> None:
    assert len(NOISE_FORM) >= 1


@pytest.mark.parametrize("case", XCHACHA, ids=[str(c["tcId"]) for c in XCHACHA])
def test_xchacha20_poly1305(case: dict[str, Any]) -> None:
    key, iv, aad, msg, ct, tag = _hex(case, "key", "iv", "aad", "msg", "ct", "tag")
    if len(iv) != 24:
        assert case["result"] == "invalid"
        with pytest.raises((NaclValueError, CryptoError, TypeError)):
            crypto_aead_xchacha20poly1305_ietf_encrypt(msg, aad, iv, key)
        return
    if case["result"] == "valid":
        assert seal_header(key, msg, aad, iv) == iv + ct + tag
        assert open_header(key, iv + ct + tag, aad) == msg
        assert crypto_aead_xchacha20poly1305_ietf_decrypt(ct + tag, aad, iv, key) == msg
    else:
        assert open_header(key, iv + ct + tag, aad) is None
