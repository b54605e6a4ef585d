"""Known answers from libsignal (tests/vectors/signal/kdf_ck.json)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.session.kdf_chain import hkdf_sha256, kdf_ck

VECTOR = json.loads((Path(__file__).parents[2] / "vectors" / "signal" / "kdf_ck.json").read_text())


def test_kdf_ck_reproduces_libsignal_chain_key_vector() -> None:
    next_ck, seed = kdf_ck(bytes.fromhex(VECTOR["chain_key"]))
    assert next_ck.hex() == VECTOR["next_chain_key"]
    assert seed.hex() == VECTOR["message_key_seed"]


def test_hkdf_reproduces_libsignal_message_key_expansion() -> None:
    # libsignal expands the seed with HKDF-SHA256 (no salt, info "WhisperMessageKeys", 80 bytes)
    seed = bytes.fromhex(VECTOR["message_key_seed"])
    out = hkdf_sha256(b"", seed, b"WhisperMessageKeys", 80)
    assert out[:32].hex() == VECTOR["libsignal_cipher_key"]
    assert out[32:64].hex() == VECTOR["libsignal_mac_key"]
    assert out[64:80].hex() == VECTOR["libsignal_iv"]
