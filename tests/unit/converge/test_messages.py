"""Wire encoding: canonical JSON, signatures, and hostile input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.converge.messages import (
    MAX_MESSAGE_BYTES,
    Kind,
    canonical,
    decode,
    decode_as,
    encode,
    public_bytes,
)
from gateway.converge.simulate import derive_key
from gateway.errors import ConvergeMessageError, ProtocolError, VersionError

KEY = derive_key(1, 1)


def test_round_trip_keeps_kind_signer_and_body() -> None:
    msg = encode(KEY, Kind.COMMIT, {"round_id": "ab", "n": 3, "t": "é"})
    back = decode(msg.raw)
    assert back.kind is Kind.COMMIT
    assert back.signer == public_bytes(KEY)
    assert back.body == {"round_id": "ab", "n": 3, "t": "é"}
    assert back.raw == msg.raw


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)


@given(st.dictionaries(TEXT, st.one_of(st.integers(), TEXT)))
def test_any_json_body_round_trips(body: dict[str, object]) -> None:
    assert decode(encode(KEY, Kind.ABSTAIN, body).raw).body == body


def tamper(raw: bytes, **changes: object) -> bytes:
    obj = json.loads(raw)
    obj.update(changes)
    return canonical(obj)


def test_a_changed_body_or_signer_fails_the_signature() -> None:
    raw = encode(KEY, Kind.COMMIT, {"x": 1}).raw
    with pytest.raises(ConvergeMessageError, match="signature"):
        decode(tamper(raw, body={"x": 2}))
    other = public_bytes(derive_key(1, 2)).hex()
    with pytest.raises(ConvergeMessageError, match="signature"):
        decode(tamper(raw, signer=other))
    with pytest.raises(ConvergeMessageError, match="signature"):
        decode(tamper(raw, kind="reveal"))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"v":1}',
        b"not json",
        b'{"v":1,"v":1,"kind":"commit","signer":"","body":{},"sig":""}',
        b'{"body":{"x":1.5},"kind":"commit","sig":"00","signer":"00","v":1}',
        b'{"body":{},"kind":"nope","sig":"00","signer":"00","v":1}',
        b'{"body":[],"kind":"commit","sig":"'
        + b"0" * 128
        + b'","signer":"'
        + b"0" * 64
        + b'","v":1}',
        b'{"body":{},"kind":"commit","sig":"'
        + b"0" * 128
        + b'","signer":"'
        + b"A" * 64
        + b'","v":1}',
        b'{"body":{"a":"\\ud800"},"kind":"commit","sig":"'
        + b"0" * 128
        + b'","signer":"'
        + b"0" * 64
        + b'","v":1}',
        b"[" * 100_000,
    ],
)
def test_garbage_is_a_typed_protocol_error(data: bytes) -> None:
    with pytest.raises(ConvergeMessageError):
        decode(data)


def test_other_version_is_a_version_error() -> None:
    raw = tamper(encode(KEY, Kind.COMMIT, {}).raw, v=2)
    with pytest.raises(VersionError):
        decode(raw)


def test_oversized_messages_are_refused_both_ways() -> None:
    with pytest.raises(ProtocolError, match="over the limit"):
        decode(b" " * (MAX_MESSAGE_BYTES + 1))
    with pytest.raises(ConvergeMessageError, match="over the limit"):
        encode(KEY, Kind.COMMIT, {"x": "a" * MAX_MESSAGE_BYTES})


def test_a_body_with_a_lone_surrogate_cannot_be_encoded() -> None:
    with pytest.raises(ConvergeMessageError, match="UTF-8"):
        encode(KEY, Kind.COMMIT, {"x": "\ud800"})


def test_decode_as_checks_the_kind() -> None:
    raw = encode(KEY, Kind.COMMIT, {}).raw
    assert decode_as(raw, Kind.COMMIT).kind is Kind.COMMIT
    with pytest.raises(ConvergeMessageError, match="expected a reveal"):
        decode_as(raw, Kind.REVEAL)
