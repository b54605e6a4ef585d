"""Link message codec: round trips, refusals, and a fuzz of the decoder."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import FrameError, LinkError, ProtocolError, VersionError
from gateway.link.messages import (
    LINK_VERSION,
    MAX_ACK_IDS,
    MAX_BODY,
    MSG_ID_SIZE,
    UNTRACKED,
    Ack,
    ChannelOpen,
    Close,
    Credit,
    Data,
    Error,
    ErrorCode,
    LinkMessage,
    MessageType,
    Ping,
    Pong,
    decode,
    encode,
    make_msg_id,
    split_msg_id,
)

names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,31}", fullmatch=True)
channels = st.integers(1, 0xFFFF)
ids = st.binary(min_size=MSG_ID_SIZE, max_size=MSG_ID_SIZE)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
text = st.text(max_size=100)

messages: st.SearchStrategy[LinkMessage] = st.one_of(
    st.builds(ChannelOpen, channels, names),
    st.builds(Data, channels, ids, st.binary(max_size=2000)),
    st.builds(Ack, st.lists(ids, min_size=1, max_size=20).map(tuple)),
    st.builds(Credit, channels, u32, u32).filter(lambda c: c.messages or c.nbytes),
    st.builds(Error, u16, u16, text),
    st.builds(Ping, u64),
    st.builds(Pong, u64),
    st.builds(Close, u16, text),
)

SAMPLES: list[LinkMessage] = [
    ChannelOpen(1, "memory"),
    Data(7, make_msg_id(b"E" * 8, 42), b"hello"),
    Data(2, UNTRACKED, b""),
    Ack((make_msg_id(b"abcdefgh", 1), make_msg_id(b"abcdefgh", 2))),
    Credit(3, 10, 4096),
    Error(ErrorCode.UNKNOWN_CHANNEL, 9, "no such channel: x"),
    Ping(2**64 - 1),
    Pong(0),
    Close(ErrorCode.NORMAL_CLOSE, "bye"),
]


@given(messages)
def test_round_trip(msg: LinkMessage) -> None:
    raw = encode(msg)
    assert raw[0] == LINK_VERSION
    assert decode(raw) == msg
    assert encode(decode(raw)) == raw


def test_layout_of_data() -> None:
    msg_id = make_msg_id(b"\x01" * 8, 5)
    raw = encode(Data(0x0102, msg_id, b"xy"))
    assert raw == bytes([1, MessageType.DATA, 1, 2]) + msg_id + b"xy"


def test_msg_id_parts() -> None:
    assert split_msg_id(make_msg_id(b"12345678", 99)) == (b"12345678", 99)
    with pytest.raises(LinkError):
        make_msg_id(b"short", 1)
    with pytest.raises(LinkError):
        make_msg_id(b"12345678", 0)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", FrameError),
        (b"\x01", FrameError),
        (b"\x02\x06" + bytes(8), VersionError),
        (b"\x01\x99", FrameError),  # unknown type
        (b"\x01\x06" + bytes(7), FrameError),  # PING truncated
        (b"\x01\x06" + bytes(9), FrameError),  # PING trailing byte
        (b"\x01\x02\x00\x00" + bytes(16), FrameError),  # DATA on channel 0
        (b"\x01\x01\x00\x01\x03ABC", FrameError),  # upper-case channel name
        (b"\x01\x01\x00\x01\x00", FrameError),  # empty channel name
        (b"\x01\x03\x00\x00", FrameError),  # ACK of no ids
        (b"\x01\x03\x00\x02" + bytes(16), FrameError),  # ACK count beyond the bytes
        (b"\x01\x04\x00\x01" + bytes(8), FrameError),  # CREDIT of nothing
        (b"\x01\x05\x00\x01\x00\x00\x00\x02\xff\xfe", FrameError),  # bad UTF-8
        (b"\x01\x08\x00\x01\x02\x01" + bytes(5), FrameError),  # text longer than MAX_TEXT
    ],
)
def test_refusals(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(raw)


def test_oversized_data_is_refused_both_ways() -> None:
    with pytest.raises(LinkError):
        encode(Data(1, UNTRACKED, bytes(MAX_BODY + 1)))
    raw = bytes([1, MessageType.DATA, 0, 1]) + UNTRACKED + bytes(MAX_BODY + 1)
    with pytest.raises(FrameError):
        decode(raw)


def test_encoder_refuses_bad_fields() -> None:
    for bad in (
        ChannelOpen(0, "memory"),
        ChannelOpen(1, "Memory"),
        Ack(()),
        Ack(tuple(UNTRACKED for _ in range(MAX_ACK_IDS + 1))),
        Credit(1, 0, 0),
        Ping(-1),
        Error(70000, 0, ""),
        Close(1, "x" * 600),
    ):
        with pytest.raises(LinkError):
            encode(bad)


def _mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 1 and data:
            del data[rng.randrange(len(data)) :]
        elif op == 2:
            data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
        else:
            data += rng.randbytes(rng.randrange(1, 20))
    return bytes(data)


def test_fuzz_decoder_only_raises_typed_errors() -> None:
    """100,000 mutated and random inputs: a valid canonical message or a ProtocolError."""
    rng = random.Random(4)
    seeds = [encode(m) for m in SAMPLES]
    decoded = refused = 0
    for i in range(100_000):
        if i % 4 == 0:
            raw = bytes([LINK_VERSION, rng.randrange(1, 10)]) + rng.randbytes(rng.randrange(40))
        else:
            raw = _mutate(rng, rng.choice(seeds))
        try:
            msg = decode(raw)
        except ProtocolError:
            refused += 1
            continue
        decoded += 1
        assert encode(msg) == raw
    assert decoded + refused == 100_000
    assert decoded > 1000 and refused > 1000
