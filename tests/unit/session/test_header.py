"""Clear and encrypted ratchet headers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.errors import DecryptError
from gateway.session.aead import open_header, seal_header
from gateway.session.header import (
    ENCRYPTED_HEADER_SIZE,
    HEADER_SIZE,
    N_OFFSET,
    Header,
    decode_header,
    decrypt_header,
    encode_header,
    encrypt_header,
    pack_counters,
    unpack_n,
)

HK = bytes(range(32))
DH = bytes(range(64, 96))
NONCE = bytes(range(24))


def test_clear_header_round_trip_and_layout() -> None:
    raw = encode_header(DH, 7, 0xFFFFFFFE)
    assert len(raw) == HEADER_SIZE == 40
    assert raw[:32] == DH and raw[32:36] == b"\x00\x00\x00\x07"
    assert decode_header(raw) == Header(DH, 7, 0xFFFFFFFE)


def test_counter_helpers_match_the_header_layout() -> None:
    raw = encode_header(DH, 0x01020304, 0xA0B0C0D0) + b"ciphertext"
    assert raw[32:40] == pack_counters(0x01020304, 0xA0B0C0D0)
    assert unpack_n(raw, N_OFFSET) == (0xA0B0C0D0,)


@pytest.mark.parametrize("size", [0, 39, 41])
def test_clear_header_wrong_size_is_decrypt_error(size: int) -> None:
    with pytest.raises(DecryptError):
        decode_header(bytes(size))


def test_encrypted_header_round_trip() -> None:
    blob = encrypt_header(HK, encode_header(DH, 1, 2), b"ad", NONCE)
    assert len(blob) == ENCRYPTED_HEADER_SIZE == 80
    assert blob[:24] == NONCE
    assert DH not in blob
    assert decrypt_header(HK, blob, b"ad") == Header(DH, 1, 2)


def test_encrypted_header_rejects_wrong_key_ad_and_any_flip() -> None:
    blob = encrypt_header(HK, encode_header(DH, 1, 2), b"ad", NONCE)
    assert decrypt_header(bytes(32), blob, b"ad") is None
    assert decrypt_header(HK, blob, b"other") is None
    for i in range(len(blob)):
        flipped = bytearray(blob)
        flipped[i] ^= 0x01
        assert decrypt_header(HK, bytes(flipped), b"ad") is None
    assert decrypt_header(HK, blob[:-1], b"ad") is None
    assert decrypt_header(HK, b"", b"ad") is None


def test_encrypted_header_of_wrong_inner_size_is_rejected() -> None:
    assert decrypt_header(HK, seal_header(HK, bytes(39), b"", NONCE), b"") is None


def test_header_nonce_must_be_24_bytes() -> None:
    with pytest.raises(ValueError):
        seal_header(HK, bytes(40), b"", bytes(12))


def test_header_aead_is_xchacha20_poly1305_wycheproof() -> None:
    data = json.loads(
        (
            Path(__file__).parents[2] / "vectors" / "wycheproof" / "xchacha20_poly1305_test.json"
        ).read_text()
    )
    checked = 0
    for group in data["testGroups"]:
        if group["keySize"] != 256 or group["ivSize"] != 192:
            continue
        for t in group["tests"]:
            key, iv, aad, msg, ct, tag = (
                bytes.fromhex(t[k]) for k in ("key", "iv", "aad", "msg", "ct", "tag")
            )
            opened = open_header(key, iv + ct + tag, aad)
            if t["result"] == "valid":
                assert opened == msg, t["tcId"]
                assert seal_header(key, msg, aad, iv) == iv + ct + tag
                checked += 1
            else:
                assert opened is None, t["tcId"]
    assert checked > 100
