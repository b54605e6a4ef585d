"""The plaintext file list and the manifest: round trip and strict parsing."""

from __future__ import annotations

import struct

import pytest

from gateway.backup.container import (
    CONFIG,
    KEY_FILES,
    MAGIC,
    MANIFEST,
    NODE_DB,
    check_name,
    decode_files,
    encode_files,
)
from gateway.backup.manifest import Manifest, decode_manifest
from gateway.errors import CorruptArchiveError

MINIMAL = {MANIFEST: b"{}", CONFIG: b"node: {}\n", **{k: k.encode() for k in KEY_FILES}}


def test_round_trip_keeps_order_and_content() -> None:
    files = {**MINIMAL, NODE_DB: bytes(range(256)) * 3, "client_auth/abc.auth_private": b"k"}
    decoded = decode_files(encode_files(files))
    assert decoded == files
    assert list(decoded) == list(files)


@pytest.mark.parametrize(
    "name",
    ["../identity.key", "/etc/passwd", "hs/authorized_clients/../../x.auth", "tor/state",
     "hs/hs_ed25519_secret_key", "client_auth/x.auth", "node.db-wal", "", "identity.key/"],
)  # fmt: skip
def test_names_outside_the_allow_list_are_refused(name: str) -> None:
    with pytest.raises(CorruptArchiveError, match="may not hold"):
        check_name(name)
    with pytest.raises(CorruptArchiveError):
        encode_files({**MINIMAL, name: b"x"})


def _raw(entries: list[tuple[bytes, bytes]], count: int | None = None) -> bytes:
    out = MAGIC + struct.pack("!I", len(entries) if count is None else count)
    for name, data in entries:
        out += struct.pack("!H", len(name)) + name + struct.pack("!Q", len(data)) + data
    return out


def _entries() -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v) for k, v in MINIMAL.items()]


def test_duplicates_stray_bytes_truncation_and_missing_files_are_refused() -> None:
    good = _raw(_entries())
    assert decode_files(good) == MINIMAL
    with pytest.raises(CorruptArchiveError, match="twice"):
        decode_files(_raw([*_entries(), (b"api.token", b"again")]))
    with pytest.raises(CorruptArchiveError, match="stray"):
        decode_files(good + b"\x00")
    for n in range(len(good)):
        with pytest.raises(CorruptArchiveError):
            decode_files(good[:n])
    with pytest.raises(CorruptArchiveError, match=r"lacks onion\.key"):
        decode_files(_raw([e for e in _entries() if e[0] != b"onion.key"]))
    with pytest.raises(CorruptArchiveError, match="not UTF-8"):
        decode_files(_raw([(b"\xff\xfe", b"")]))
    with pytest.raises(CorruptArchiveError, match="lists"):
        decode_files(_raw([], count=10**6))


def _manifest() -> Manifest:
    return Manifest("alice", "a" * 56, "/s", "/c/node.yaml", 1.5, "0.1.0")


def test_manifest_round_trip() -> None:
    assert decode_manifest(_manifest().encode()) == _manifest()


@pytest.mark.parametrize(
    "data",
    [b"\xff", b"[]", b"{}", b'{"node_name": 1}',
     _manifest().encode().replace(b'"version": 1', b'"version": 9'),
     _manifest().encode().replace(b'"created": 1.5', b'"created": "soon"'),
     _manifest().encode().replace(b'"created": 1.5', b'"created": true')],
)  # fmt: skip
def test_bad_manifests_are_refused(data: bytes) -> None:
    with pytest.raises(CorruptArchiveError, match="manifest"):
        decode_manifest(data)
