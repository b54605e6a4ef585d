"""KDF_CK, HKDF-SHA256, KDF_RK and the per-message key derivation."""

from __future__ import annotations

import hmac
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from gateway.errors import DecryptError
from gateway.session.aead import (
    MESSAGE_INFO,
    chain_step,
    message_key_material,
    open_next,
    open_sealed,
    seal,
    seal_next,
)
from gateway.session.kdf_chain import (
    hkdf_expand_sha256,
    hkdf_sha256,
    hmac_sha256,
    hmac_states,
    hmac_with,
    kdf_ck,
)
from gateway.session.root_chain import ROOT_INFO, kdf_rk, kdf_rk_he

VECTORS = Path(__file__).parents[2] / "vectors" / "wycheproof"


def _wycheproof(name: str) -> list[dict[str, object]]:
    data = json.loads((VECTORS / name).read_text())
    return [t for g in data["testGroups"] for t in g["tests"]]


@pytest.mark.parametrize("key_len", [0, 1, 31, 32, 33, 64, 65, 200])
def test_hmac_matches_stdlib_for_any_key_length(key_len: int) -> None:
    key = bytes(range(key_len % 256)) * (key_len // 256 + 1)
    key = key[:key_len]
    for msg in (b"", b"\x01", bytes(100)):
        assert hmac_sha256(key, msg) == hmac.digest(key, msg, "sha256")


def test_hmac_wycheproof_vectors() -> None:
    checked = 0
    for t in _wycheproof("hmac_sha256_test.json"):
        key, msg, tag = (bytes.fromhex(str(t[k])) for k in ("key", "msg", "tag"))
        full = hmac_sha256(key, msg)
        if t["result"] == "valid":
            assert full[: len(tag)] == tag, t["tcId"]
            checked += 1
        else:
            assert full[: len(tag)] != tag, t["tcId"]
    assert checked > 50


def test_hkdf_wycheproof_vectors() -> None:
    checked = 0
    for t in _wycheproof("hkdf_sha256_test.json"):
        ikm, salt, info = (bytes.fromhex(str(t[k])) for k in ("ikm", "salt", "info"))
        size = int(str(t["size"]))
        if t["result"] != "valid":
            with pytest.raises(ValueError):
                hkdf_sha256(salt, ikm, info, size)
            continue
        assert hkdf_sha256(salt, ikm, info, size).hex() == t["okm"], t["tcId"]
        checked += 1
    assert checked > 50


def test_hkdf_expand_matches_cryptography() -> None:
    prk = bytes(range(32))
    for length in (1, 32, 44, 64, 96, 255):
        expected = HKDFExpand(hashes.SHA256(), length, b"label").derive(prk)
        assert hkdf_expand_sha256(prk, b"label", length) == expected


def test_kdf_ck_is_hmac_with_0x02_and_0x01() -> None:
    ck = bytes(range(32))
    next_ck, mk = kdf_ck(ck)
    assert next_ck == hmac.digest(ck, b"\x02", "sha256")
    assert mk == hmac.digest(ck, b"\x01", "sha256")
    assert next_ck != mk


def test_kdf_ck_chain_never_repeats() -> None:
    ck = bytes(32)
    seen: set[bytes] = set()
    for _ in range(200):
        ck, mk = kdf_ck(ck)
        assert ck not in seen and mk not in seen
        seen.update((ck, mk))


def test_message_key_material_is_hkdf_expand_with_the_label() -> None:
    mk = bytes(range(100, 132))
    key, nonce = message_key_material(mk)
    out = HKDFExpand(hashes.SHA256(), 44, MESSAGE_INFO).derive(mk)
    assert (key, nonce) == (out[:32], out[32:])
    assert len(key) == 32 and len(nonce) == 12


def test_chain_step_equals_kdf_ck_then_message_key_material() -> None:
    ck = bytes(range(32))
    for _ in range(20):
        next_ck, mk = kdf_ck(ck)
        assert chain_step(ck) == (next_ck, *message_key_material(mk))
        ck = next_ck


def test_seal_next_and_open_next_equal_chain_step_with_the_aead() -> None:
    ck = bytes(range(32))
    for size in (0, 1, 100, 1024):
        plaintext, ad = bytes(size), b"ad" * size
        next_ck, key, nonce = chain_step(ck)
        assert seal_next(ck, plaintext, ad) == (next_ck, seal(key, nonce, plaintext, ad))
        sealed = seal(key, nonce, plaintext, ad)
        assert open_next(ck, sealed, ad) == (next_ck, plaintext)
        assert open_sealed(key, nonce, sealed, ad) == plaintext
        for bad in (sealed[:-1] + bytes([sealed[-1] ^ 1]), sealed[:-1], b""):
            with pytest.raises(DecryptError):
                open_next(ck, bad, ad)
        with pytest.raises(DecryptError):
            open_next(ck, sealed, ad + b"x")
        ck = next_ck


def test_hmac_states_reusable_for_several_messages() -> None:
    states = hmac_states(b"k" * 32)
    assert hmac_with(states, b"a") == hmac.digest(b"k" * 32, b"a", "sha256")
    assert hmac_with(states, b"b") == hmac.digest(b"k" * 32, b"b", "sha256")


def test_kdf_rk_is_hkdf_with_root_salt() -> None:
    rk, dh_out = bytes(range(32)), bytes(range(32, 64))
    out = HKDF(hashes.SHA256(), 96, rk, ROOT_INFO).derive(dh_out)
    assert kdf_rk(rk, dh_out) == (out[:32], out[32:64])
    assert kdf_rk_he(rk, dh_out) == (out[:32], out[32:64], out[64:96])


def test_kdf_rk_depends_on_both_inputs() -> None:
    a = kdf_rk(bytes(32), bytes(32))
    assert kdf_rk(b"\x01" + bytes(31), bytes(32)) != a
    assert kdf_rk(bytes(32), b"\x01" + bytes(31)) != a
    assert len(set(a)) == 2
