"""The encrypted archive: round trip, wrong passphrase, damage of every byte, bad headers."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.backup.archive import (
    CHECKSUM_BYTES,
    FORMAT_VERSION,
    HEADER_BYTES,
    MAGIC,
    TAG_BYTES,
    checksum,
    decode_header,
    open_archive,
    seal,
)
from gateway.backup.kdf import MAX_MEMLIMIT, MINIMUM, KdfParams, derive_key
from gateway.errors import BackupError, CorruptArchiveError, WrongPassphraseError

PASS = b"passphrase"


def test_round_trip_and_layout() -> None:
    data = seal(b"hello state", PASS, MINIMUM)
    assert data.startswith(MAGIC + bytes([FORMAT_VERSION]))
    assert len(data) == HEADER_BYTES + len(b"hello state") + TAG_BYTES + CHECKSUM_BYTES
    header = decode_header(data)
    assert header.kdf == MINIMUM
    assert open_archive(data, PASS) == b"hello state"


def test_salt_and_nonce_are_fresh_each_time() -> None:
    one, two = seal(b"x", PASS, MINIMUM), seal(b"x", PASS, MINIMUM)
    assert decode_header(one).salt != decode_header(two).salt
    assert decode_header(one).nonce != decode_header(two).nonce
    assert one[HEADER_BYTES:] != two[HEADER_BYTES:]


def test_plaintext_does_not_appear_in_the_archive() -> None:
    secret = b"S3CRET-" * 20
    assert b"S3CRET" not in seal(secret, PASS, MINIMUM)


def test_wrong_passphrase() -> None:
    data = seal(b"hello", PASS, MINIMUM)
    with pytest.raises(WrongPassphraseError):
        open_archive(data, b"passphrasf")
    with pytest.raises(WrongPassphraseError):
        open_archive(data, b"")


def test_every_flipped_byte_is_a_corrupt_archive() -> None:
    data = seal(b"tiny", PASS, MINIMUM)
    for i in range(len(data)):
        for mask in (0x01, 0x80):
            damaged = bytearray(data)
            damaged[i] ^= mask
            with pytest.raises(CorruptArchiveError):
                open_archive(bytes(damaged), PASS)


def test_every_truncation_is_a_corrupt_archive() -> None:
    data = seal(b"short plaintext", PASS, MINIMUM)
    for n in range(len(data)):
        with pytest.raises(CorruptArchiveError):
            open_archive(data[:n], PASS)
    with pytest.raises(CorruptArchiveError):
        open_archive(data + b"\x00", PASS)


def test_bad_magic_and_unknown_version_are_named() -> None:
    data = seal(b"x", PASS, MINIMUM)
    with pytest.raises(CorruptArchiveError, match="bad magic"):
        open_archive(b"NOTABACK" + data[8:], PASS)
    future = bytearray(data)
    future[len(MAGIC)] = FORMAT_VERSION + 1
    with pytest.raises(CorruptArchiveError, match="version 2"):
        open_archive(bytes(future), PASS)


def _with_kdf(data: bytes, ops: int, mem: int) -> bytes:
    """``data`` with other KDF costs and a checksum that matches (as a tamperer would)."""
    body = bytearray(data[:-CHECKSUM_BYTES])
    struct.pack_into("!IQ", body, len(MAGIC) + 4, ops, mem)
    return bytes(body) + checksum(bytes(body))


def test_kdf_costs_beyond_the_limits_are_refused_before_deriving() -> None:
    data = seal(b"x", PASS, MINIMUM)
    with pytest.raises(CorruptArchiveError, match="memlimit"):
        open_archive(_with_kdf(data, 1, MAX_MEMLIMIT * 4), PASS)
    with pytest.raises(CorruptArchiveError, match="opslimit"):
        open_archive(_with_kdf(data, 0, MINIMUM.memlimit), PASS)


def test_tampering_that_fixes_the_checksum_still_fails_authentication() -> None:
    data = seal(b"pay alice", PASS, MINIMUM)
    body = bytearray(data[:-CHECKSUM_BYTES])
    body[HEADER_BYTES] ^= 1
    with pytest.raises(WrongPassphraseError):
        open_archive(bytes(body) + checksum(bytes(body)), PASS)


def test_empty_passphrase_and_bad_params_are_refused_when_sealing() -> None:
    with pytest.raises(BackupError, match="empty"):
        seal(b"x", b"", MINIMUM)
    with pytest.raises(BackupError):
        seal(b"x", PASS, KdfParams(1, 1024))


def test_key_depends_on_passphrase_salt_and_costs() -> None:
    salt = bytes(16)
    key = derive_key(PASS, salt, MINIMUM)
    assert len(key) == 32
    assert derive_key(PASS, salt, MINIMUM) == key
    assert derive_key(b"other", salt, MINIMUM) != key
    assert derive_key(PASS, b"\x01" * 16, MINIMUM) != key
    assert derive_key(PASS, salt, KdfParams(2, MINIMUM.memlimit)) != key
    with pytest.raises(CorruptArchiveError, match="salt"):
        derive_key(PASS, b"short", MINIMUM)


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_refused_with_a_typed_error(data: bytes) -> None:
    with pytest.raises(CorruptArchiveError):
        open_archive(data, PASS)
    with pytest.raises(CorruptArchiveError):
        open_archive(MAGIC + bytes([FORMAT_VERSION]) + data, PASS)


@settings(max_examples=20, deadline=None)
@given(st.binary(max_size=2000))
def test_round_trip_of_any_plaintext(plaintext: bytes) -> None:
    assert open_archive(seal(plaintext, PASS, MINIMUM), PASS) == plaintext
