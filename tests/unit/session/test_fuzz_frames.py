"""Fuzzing: random and mutated inputs into FrameDecoder.feed and RatchetState.decrypt.

Only typed gateway errors may come out; 100,000 inputs for each, seeded.
"""

from __future__ import annotations

import random

from nacl.bindings import crypto_scalarmult_base

from gateway.config.schema import PaddingMode
from gateway.errors import FrameError, ProtocolError
from gateway.session.frames import FrameDecoder, FrameEncoder, FrameType
from gateway.session.ratchet import RatchetParams, RatchetState

FRAME_INPUTS = 100_000
RATCHET_INPUTS = 100_000
AD = b"fuzz"


def mutate(rnd: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    kind = rnd.randrange(6)
    if kind == 0 and buf:
        pos = rnd.randrange(len(buf) * 8)
        buf[pos // 8] ^= 1 << (pos % 8)
    elif kind == 1 and buf:
        buf[rnd.randrange(len(buf))] = rnd.randrange(256)
    elif kind == 2:
        del buf[rnd.randrange(len(buf) + 1) :]
    elif kind == 3:
        buf += rnd.randbytes(rnd.randrange(1, 9))
    elif kind == 4 and len(buf) >= 6:
        buf[rnd.randrange(6)] = rnd.choice((0, 1, 2, 3, 0x7F, 0xFF))
    else:
        start = rnd.randrange(len(buf) + 1)
        buf[start : start + 4] = rnd.randbytes(4)
    return bytes(buf)


def test_fuzz_frame_decoder() -> None:
    rnd = random.Random(1234)
    overhead = 100
    valid: list[bytes] = []
    for mode in PaddingMode:
        enc = FrameEncoder(mode, overhead)
        for size in (0, 1, 50, 391, 392, 900, 3000, 20_000):
            valid += enc.encode(rnd.randbytes(size), FrameType.DATA)
        valid.append(enc.dummy())
    decoders = [FrameDecoder(), *(FrameDecoder(m, overhead) for m in PaddingMode)]
    decoders.append(FrameDecoder(max_payload=64))
    outcomes = {"frame": 0, "none": 0, "error": 0}
    for i in range(FRAME_INPUTS):
        random_input = i % 4 == 0
        data = rnd.randbytes(rnd.randrange(40)) if random_input else mutate(rnd, rnd.choice(valid))
        dec = decoders[i % len(decoders)]
        try:
            result = dec.feed(data)
        except FrameError:
            outcomes["error"] += 1
        else:
            outcomes["none" if result is None else "frame"] += 1
    assert sum(outcomes.values()) == FRAME_INPUTS
    assert min(outcomes.values()) > 100  # all three outcomes were exercised


def _prepared(he: bool) -> tuple[RatchetState, list[bytes]]:
    params = RatchetParams(header_encryption=he)
    hka, nhkb = (bytes(range(32)), bytes(range(1, 33))) if he else (None, None)
    bob_priv = bytes(range(100, 132))
    bob_pub = bytes(crypto_scalarmult_base(bob_priv))
    alice = RatchetState.init_initiator(
        bytes(32), bob_pub, params, shared_hka=hka, shared_nhkb=nhkb
    )
    bob = RatchetState.init_responder(bytes(32), bob_priv, params, shared_hka=hka, shared_nhkb=nhkb)
    msgs = []
    for i in range(4):
        alice, m = alice.encrypt(b"m%d" % i, AD)
        msgs.append(m)
    bob, _ = bob.decrypt(msgs[1], AD)  # one skipped key, one used, two in the future
    bob, r = bob.encrypt(b"reply", AD)
    alice, _ = alice.decrypt(r, AD)
    alice, m = alice.encrypt(b"next chain", AD)
    msgs.append(m)
    return bob, msgs


def test_fuzz_ratchet_decrypt() -> None:
    rnd = random.Random(99)
    states = [_prepared(False), _prepared(True)]
    blobs = [state.to_bytes() for state, _ in states]
    rejected = 0
    for i in range(RATCHET_INPUTS):
        state, msgs = states[i % 2]
        random_input = i % 5 == 0
        data = rnd.randbytes(rnd.randrange(140)) if random_input else mutate(rnd, rnd.choice(msgs))
        try:
            state.decrypt(data, AD)
        except ProtocolError:
            rejected += 1
    # mutations that leave a message intact (e.g. appended-then-truncated) may decrypt
    assert rejected > RATCHET_INPUTS * 0.9
    assert [state.to_bytes() for state, _ in states] == blobs
