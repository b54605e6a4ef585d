"""Entries: canonical bytes, signatures, tampering, limits, supersede/tombstone."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from gateway.errors import EntryError
from gateway.memory.entry import (
    MAX_BODY_BYTES,
    MAX_METADATA_BYTES,
    MAX_TAGS,
    ZERO_HASH,
    Kind,
    decode_entry,
    load_entry,
    sign_entry,
    verify_signature,
)

from .helpers import key_from, pub

AUTHOR_1 = "4cb5abf6ad79fbf5abbccafcc269d85cd2651ed4b885b5869f241aedf0a5ba29"


def _vector_entry():  # type: ignore[no-untyped-def]
    return sign_entry(
        key_from(1),
        seq=2,
        prev=bytes(range(32)),
        timestamp_ms=1_700_000_000_000,
        space="default",
        body="héllo",
        topic="t",
        tags=["b", "a"],
        metadata={"z": 1, "a": [True, None, "x"]},
    )


def test_canonical_bytes_fixed_vector() -> None:
    expected = bytes.fromhex(
        "01"  # version
        + AUTHOR_1
        + "0000000000000002"  # seq
        + bytes(range(32)).hex()  # prev
        + "0000018bcfe56800"  # timestamp ms
        + "01"  # kind note
        + "00" * 32  # target
        + "07" + b"default".hex()
        + "0001" + b"t".hex()
        + "02" + "0161" + "0162"  # tags sorted
        + "00000006" + "héllo".encode().hex()
        + "0000001b" + b'{"a":[true,null,"x"],"z":1}'.hex()
    )  # fmt: skip
    entry = _vector_entry()
    assert entry.author.hex() == AUTHOR_1 == pub(key_from(1)).hex()
    assert entry.content == expected
    assert entry.id == hashlib.sha256(expected).digest()
    assert entry.id.hex() == "b9520ad74283871008fe22e9c0d5204f2bc000ee380e32f261a5c8f4ac142265"
    assert entry.signature.hex().startswith("a4fa98e46af5e0de")
    assert entry.encode() == expected + entry.signature


def test_round_trip_and_verify() -> None:
    entry = _vector_entry()
    again = load_entry(entry.encode())
    assert again == entry
    assert again.id == entry.id
    assert again.metadata_obj == {"a": [True, None, "x"], "z": 1}


def test_every_tampered_byte_is_rejected() -> None:
    wire = _vector_entry().encode()
    for i in range(len(wire)):
        bad = bytearray(wire)
        bad[i] ^= 0x01
        with pytest.raises(EntryError) as info:
            load_entry(bytes(bad))
        assert info.value.reason in {"bad_signature", "malformed", "oversized"}


def test_forged_signature_rejected() -> None:
    entry = _vector_entry()
    forged = sign_entry(key_from(2), seq=1, prev=ZERO_HASH, timestamp_ms=1, space="default")
    claimed = dataclasses.replace(forged, author=entry.author)
    with pytest.raises(EntryError) as info:
        verify_signature(claimed)
    assert info.value.reason == "bad_signature"


def test_truncated_and_trailing_bytes_malformed() -> None:
    wire = _vector_entry().encode()
    for bad in (wire[:-1], wire + b"\x00", wire[:10], b""):
        with pytest.raises(EntryError) as info:
            decode_entry(bad)
        assert info.value.reason == "malformed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", "x" * (MAX_BODY_BYTES + 1)),
        ("topic", "x" * 257),
        ("tags", [f"t{i:03d}" for i in range(MAX_TAGS + 1)]),
        ("tags", ["x" * 65]),
        ("metadata", {"k": "x" * MAX_METADATA_BYTES}),
    ],
)
def test_limits(field: str, value: object) -> None:
    kwargs: dict[str, object] = {field: value}
    with pytest.raises(EntryError) as info:
        sign_entry(key_from(1), seq=1, prev=ZERO_HASH, timestamp_ms=1, space="default", **kwargs)  # type: ignore[arg-type]
    assert info.value.reason == "oversized"


def test_limits_at_the_edge_are_accepted() -> None:
    entry = sign_entry(
        key_from(1), seq=1, prev=ZERO_HASH, timestamp_ms=1, space="default",
        body="é" * (MAX_BODY_BYTES // 2), tags=[f"t{i:03d}" for i in range(MAX_TAGS)],
    )  # fmt: skip
    assert load_entry(entry.encode()) == entry


@pytest.mark.parametrize(
    "kwargs",
    [
        {"metadata": {"f": 1.5}},
        {"metadata": {"big": 1 << 60}},
        {"space": "Bad Space"},
        {"tags": ["has space"]},
        {"seq": 1, "prev": b"\x01" * 32},
        {"seq": 2, "prev": ZERO_HASH},
        {"kind": Kind.TOMBSTONE},
        {"target": b"\x01" * 32},
    ],
)
def test_malformed_fields(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"seq": 1, "prev": ZERO_HASH, "timestamp_ms": 1, "space": "default"}
    with pytest.raises(EntryError) as info:
        sign_entry(key_from(1), **(base | kwargs))  # type: ignore[arg-type]
    assert info.value.reason == "malformed"


def test_non_canonical_metadata_refused() -> None:
    entry = _vector_entry()
    spaced = dataclasses.replace(entry, metadata='{"z": 1, "a": [true, null, "x"]}')
    with pytest.raises(EntryError) as info:
        decode_entry(spaced.encode())
    assert info.value.reason == "malformed"


def test_tombstone_and_supersede_reference_target() -> None:
    key = key_from(3)
    note = sign_entry(key, seq=1, prev=ZERO_HASH, timestamp_ms=1, space="default", body="a")
    edit = sign_entry(
        key, seq=2, prev=note.id, timestamp_ms=2, space="default", body="b",
        kind=Kind.SUPERSEDE, target=note.id,
    )  # fmt: skip
    gone = sign_entry(
        key, seq=3, prev=edit.id, timestamp_ms=3, space="default", kind=Kind.TOMBSTONE,
        target=edit.id,
    )  # fmt: skip
    assert load_entry(edit.encode()).target == note.id
    assert load_entry(gone.encode()).kind == Kind.TOMBSTONE
    assert len({note.id, edit.id, gone.id}) == 3
