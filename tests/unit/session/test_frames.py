"""Frame encoding, padding removal, fragmentation and dummy frames."""

from __future__ import annotations

import pytest

from gateway.config.schema import PaddingMode
from gateway.errors import FrameError
from gateway.session.frames import (
    FLAG_MORE,
    FRAME_HEADER_SIZE,
    MAX_DUMMY_PAYLOAD,
    Frame,
    FrameDecoder,
    FrameEncoder,
    FrameType,
)
from gateway.session.padding import BUCKET_SIZES, DEFAULT_FIXED_SIZE, is_allowed_record_size

OVERHEAD = 96 + 4


def pair(mode: PaddingMode, **kw: int) -> tuple[FrameEncoder, FrameDecoder]:
    return FrameEncoder(mode, OVERHEAD, **kw), FrameDecoder(mode, OVERHEAD, **kw)


def round_trip(enc: FrameEncoder, dec: FrameDecoder, payload: bytes) -> list[bytes]:
    inners = enc.encode(payload)
    results = [dec.feed(inner) for inner in inners]
    assert results[:-1] == [None] * (len(inners) - 1)
    assert results[-1] == Frame(FrameType.DATA, payload)
    assert dec.pending == 0
    for inner in inners:
        assert is_allowed_record_size(enc.mode, len(inner) + OVERHEAD, fixed_size=enc.fixed_size)
    return inners


def _lengths() -> list[int]:
    edges = [b + d for b in (*BUCKET_SIZES, DEFAULT_FIXED_SIZE) for d in range(-110, -95)]
    return [*range(0, 1100), *edges, 15_829, 15_830, 15_831, 40_000]


@pytest.mark.parametrize("mode", list(PaddingMode))
def test_round_trip_for_many_lengths_and_boundaries(mode: PaddingMode) -> None:
    enc, dec = pair(mode)
    for length in _lengths():
        round_trip(enc, dec, bytes((i * 7 + length) % 256 for i in range(length)))


def test_layout_of_a_frame() -> None:
    enc = FrameEncoder(PaddingMode.BUCKETS, OVERHEAD)
    (inner,) = enc.encode(b"abc", FrameType.CONTROL)
    assert inner[:6] == bytes([FrameType.CONTROL, 0]) + (3).to_bytes(4, "big")
    assert inner[6:9] == b"abc"
    assert inner[9:] == bytes(len(inner) - 9)
    assert len(inner) == BUCKET_SIZES[0] - OVERHEAD


@pytest.mark.parametrize("mode", [PaddingMode.FIXED, PaddingMode.BUCKETS])
def test_fragments_reassemble(mode: PaddingMode) -> None:
    enc, dec = pair(mode)
    payload = bytes(range(256)) * 200
    inners = round_trip(enc, dec, payload)
    assert len(inners) > 1
    assert all(inner[1] == FLAG_MORE for inner in inners[:-1]) and inners[-1][1] == 0


def test_dummy_frames_between_fragments_are_ignored() -> None:
    enc, dec = pair(PaddingMode.FIXED)
    inners = enc.encode(bytes(5000))
    assert dec.feed(inners[0]) is None
    assert dec.feed(enc.dummy()) == Frame(FrameType.DUMMY, b"")
    for inner in inners[1:-1]:
        assert dec.feed(inner) is None
    assert dec.feed(inners[-1]) == Frame(FrameType.DATA, bytes(5000))


@pytest.mark.parametrize("mode", list(PaddingMode))
def test_dummy_has_the_size_of_real_frames(mode: PaddingMode) -> None:
    enc, dec = pair(mode)
    real = enc.encode(b"hello")
    dummy = enc.dummy()
    assert len(dummy) == len(real[0])
    assert dec.feed(dummy) == Frame(FrameType.DUMMY, b"")
    if mode is PaddingMode.BUCKETS:
        assert len(enc.dummy(BUCKET_SIZES[3])) == BUCKET_SIZES[3] - OVERHEAD
    with pytest.raises(FrameError):
        enc.dummy(1234)


def test_fixed_size_is_configurable() -> None:
    enc, dec = pair(PaddingMode.FIXED, fixed_size=1494)
    inners = round_trip(enc, dec, bytes(3000))
    assert {len(i) + OVERHEAD for i in inners} == {1494}
    with pytest.raises(FrameError):
        FrameEncoder(PaddingMode.FIXED, OVERHEAD, fixed_size=OVERHEAD + FRAME_HEADER_SIZE)


def test_reassembly_cap() -> None:
    enc = FrameEncoder(PaddingMode.FIXED, OVERHEAD, max_payload=10_000)
    dec = FrameDecoder(PaddingMode.FIXED, OVERHEAD, max_payload=4_000)
    inners = enc.encode(bytes(10_000))
    with pytest.raises(FrameError):
        for inner in inners:
            dec.feed(inner)
    assert dec.pending == 0
    with pytest.raises(FrameError):
        enc.encode(bytes(10_001))


def test_single_frame_over_cap_is_rejected() -> None:
    enc = FrameEncoder(PaddingMode.PADME_CELLS, OVERHEAD)
    dec = FrameDecoder(PaddingMode.PADME_CELLS, OVERHEAD, max_payload=100)
    (inner,) = enc.encode(bytes(101))
    with pytest.raises(FrameError):
        dec.feed(inner)


def _malformed(valid: bytes) -> list[bytes]:
    bad_pad = bytearray(valid)
    bad_pad[-1] = 1
    long_len = valid[:2] + (len(valid)).to_bytes(4, "big") + valid[6:]
    return [
        b"",
        valid[:5],
        bytes(bad_pad),
        b"\x7f" + valid[1:],
        valid[:1] + b"\x02" + valid[2:],
        long_len,
        bytes([FrameType.DUMMY, FLAG_MORE]) + valid[2:],  # a dummy with flags
    ]


def test_malformed_frames_are_frame_errors() -> None:
    enc = FrameEncoder(PaddingMode.PADME_CELLS, OVERHEAD)
    (valid,) = enc.encode(b"payload")
    dec = FrameDecoder()
    for bad in _malformed(valid):
        with pytest.raises(FrameError):
            dec.feed(bad)
    assert dec.feed(valid) == Frame(FrameType.DATA, b"payload")


def test_wrong_record_size_and_type_switch_are_frame_errors() -> None:
    enc, dec = pair(PaddingMode.BUCKETS)
    (inner,) = enc.encode(b"x")
    with pytest.raises(FrameError):
        dec.feed(inner + b"\x00")
    first = enc.encode(bytes(20_000))[0]
    assert dec.feed(first) is None
    with pytest.raises(FrameError):
        dec.feed(enc.encode(b"y", FrameType.CONTROL)[0])
    assert dec.pending == 0  # partial payload dropped after the error
    with pytest.raises(FrameError):
        enc.encode(b"", FrameType.DUMMY)


def test_decoder_without_mode_accepts_any_size() -> None:
    enc = FrameEncoder(PaddingMode.BUCKETS, 0)
    dec = FrameDecoder()
    (inner,) = enc.encode(b"abc")
    assert dec.feed(inner + bytes(3)) == Frame(FrameType.DATA, b"abc")


def test_a_dummy_carries_a_short_payload_and_no_more() -> None:
    enc, dec = pair(PaddingMode.FIXED)
    assert dec.feed(enc.dummy(payload=b"12345678")) == Frame(FrameType.DUMMY, b"12345678")
    assert len(enc.dummy(payload=b"12345678")) == len(enc.dummy())
    with pytest.raises(FrameError):
        enc.dummy(payload=bytes(MAX_DUMMY_PAYLOAD + 1))


def test_a_padme_cells_receiver_accepts_fragments() -> None:
    """docs/PROTOCOL.md section 5: a padme_cells sender never splits, but a receiver of
    any mode joins MORE fragments (of the sizes its mode allows)."""
    sender = FrameEncoder(PaddingMode.FIXED, OVERHEAD)
    receiver = FrameDecoder(PaddingMode.PADME_CELLS, OVERHEAD)
    payload = bytes(range(256)) * 10
    frames = sender.encode(payload)
    assert len(frames) > 1
    results = [receiver.feed(f) for f in frames]
    assert results[:-1] == [None] * (len(frames) - 1)
    last = results[-1]
    assert last is not None and last.payload == payload
