"""Fuzz the three handshake readers with >= 100,000 generated inputs.

Inputs are random byte strings and mutations of valid messages (bit flips,
byte overwrites, truncation, extension, splices). Every input must be refused
with a typed gateway error, and a refused input must leave the reader as it
was (one prepared state per reader is reused for that reason).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from gateway.errors import DecryptError, HandshakeError, VersionError
from tests.unit.session.test_handshake_helpers import pair

TYPED = (HandshakeError, VersionError, DecryptError)
PER_READER = 34_000


def _mutations(good: bytes, rnd: random.Random) -> Iterator[bytes]:
    size = len(good)
    while True:
        kind = rnd.randrange(6)
        data = bytearray(good)
        if kind == 0:  # random bytes of a random length near the real one
            yield rnd.randbytes(rnd.randrange(size + 40))
            continue
        if kind == 1:  # flip 1-4 bits
            for _ in range(rnd.randrange(1, 5)):
                data[rnd.randrange(size)] ^= 1 << rnd.randrange(8)
        elif kind == 2:  # overwrite a run of bytes, keeping the header
            start = rnd.randrange(2, size)
            data[start : start + rnd.randrange(1, 9)] = rnd.randbytes(rnd.randrange(1, 9))
        elif kind == 3:  # truncate
            del data[rnd.randrange(size) :]
        elif kind == 4:  # extend
            data += rnd.randbytes(rnd.randrange(1, 64))
        else:  # splice a piece of the message elsewhere
            a, b = sorted(rnd.sample(range(size), 2))
            data[rnd.randrange(size) : rnd.randrange(size)] = good[a:b]
        if bytes(data) != good:
            yield bytes(data)


def _fuzz(read: Callable[[bytes], object], good: bytes, seed: int) -> int:
    rnd = random.Random(seed)
    count = 0
    for data in _mutations(good, rnd):
        try:
            read(data)
        except TYPED:
            count += 1
        else:
            raise AssertionError(f"a mutated message was accepted: {data.hex()}")
        if count >= PER_READER:
            return count
    return count


def test_fuzz_handshake_readers() -> None:
    initiator, responder = pair(False, seed=b"fuzz")
    m1 = initiator.start()
    total = _fuzz(responder.respond, m1, 1)
    m2 = responder.respond(m1)  # still works: refused inputs changed nothing
    total += _fuzz(initiator.receive, m2, 2)
    m3 = initiator.receive(m2)
    total += _fuzz(responder.finish, m3, 3)
    assert responder.finish(m3).sk == initiator.result.sk
    assert total >= 100_000
