"""Property tests: random interleavings with drops, reordering, duplicates and bit flips."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_scalarmult_base

from gateway.errors import DecryptError, ProtocolError, ReplayError, TooManySkippedError
from gateway.session.ratchet import RatchetParams, RatchetState

AD = b"prop"
SK = bytes(range(32))
BOB_PRIV = bytes(range(100, 132))
OPS = ("send", "send", "send", "deliver", "deliver", "deliver", "drop", "dup", "flip")


@dataclass
class Party:
    state: RatchetState
    inbox: list[tuple[bytes, bytes]] = field(default_factory=list)
    delivered: list[bytes] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)


def new_parties(params: RatchetParams) -> tuple[Party, Party]:
    he = params.header_encryption
    hka, nhkb = (bytes(range(1, 33)), bytes(range(2, 34))) if he else (None, None)
    bob_pub = bytes(crypto_scalarmult_base(BOB_PRIV))
    alice = RatchetState.init_initiator(SK, bob_pub, params, shared_hka=hka, shared_nhkb=nhkb)
    bob = RatchetState.init_responder(SK, BOB_PRIV, params, shared_hka=hka, shared_nhkb=nhkb)
    return Party(alice), Party(bob)


def deliver(party: Party, msg: bytes, text: bytes) -> None:
    party.state, plaintext = party.state.decrypt(msg, AD)
    assert plaintext == text
    party.delivered.append(msg)
    party.received.append(text)


def rejected_without_change(party: Party, msg: bytes, error: type[Exception]) -> None:
    before = party.state.to_bytes()
    with pytest.raises(error):
        party.state.decrypt(msg, AD)
    assert party.state.to_bytes() == before


actions = st.lists(
    st.tuples(st.sampled_from(OPS), st.booleans(), st.integers(0, 10_000)), max_size=45
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=actions, he=st.booleans())
def test_random_interleavings_decrypt_each_message_exactly_once(
    actions: list[tuple[str, bool, int]], he: bool
) -> None:
    # a long age limit keeps every duplicate a ReplayError (never an expired chain)
    alice, bob = new_parties(RatchetParams(header_encryption=he, max_skipped_age=100))
    sent: dict[int, list[bytes]] = {id(alice): [], id(bob): []}
    dropped: set[bytes] = set()
    counter = 0
    for op, a_sends, idx in actions:
        sender, receiver = (alice, bob) if a_sends else (bob, alice)
        if op == "send" and sender.state.can_send:
            counter += 1
            text = b"%d:" % counter + bytes(idx % 300)
            sender.state, msg = sender.state.encrypt(text, AD)
            receiver.inbox.append((msg, text))
            sent[id(receiver)].append(text)
        elif op in ("deliver", "drop") and receiver.inbox:
            msg, text = receiver.inbox.pop(idx % len(receiver.inbox))
            if op == "deliver":
                deliver(receiver, msg, text)
            else:
                dropped.add(text)
        elif op == "dup" and receiver.delivered:
            dup = receiver.delivered[idx % len(receiver.delivered)]
            rejected_without_change(receiver, dup, ReplayError)
        elif op == "flip" and receiver.inbox:
            msg, _ = receiver.inbox[idx % len(receiver.inbox)]
            bad = bytearray(msg)
            bad[(idx // 8) % len(bad)] ^= 1 << (idx % 8)
            rejected_without_change(receiver, bytes(bad), ProtocolError)
    for party in (alice, bob):
        while party.inbox:
            deliver(party, *party.inbox.pop())
        expected = [t for t in sent[id(party)] if t not in dropped]
        assert sorted(party.received) == sorted(expected)
        assert len(set(party.received)) == len(party.received)
    # the session still works both ways after everything above
    if alice.state.can_send:
        alice.state, msg = alice.state.encrypt(b"final", AD)
        deliver(bob, msg, b"final")
    if bob.state.can_send:
        bob.state, msg = bob.state.encrypt(b"final-b", AD)
        deliver(alice, msg, b"final-b")


@settings(max_examples=15, deadline=None)
@given(max_skip=st.integers(0, 6), extra=st.integers(1, 4), he=st.booleans())
def test_message_past_max_skip_is_rejected_and_session_survives(
    max_skip: int, extra: int, he: bool
) -> None:
    params = RatchetParams(max_skip=max_skip, max_skipped_total=100, header_encryption=he)
    alice, bob = new_parties(params)
    msgs = []
    for i in range(max_skip + extra + 1):
        alice.state, msg = alice.state.encrypt(b"%d" % i, AD)
        msgs.append(msg)
    rejected_without_change(bob, msgs[max_skip + extra], TooManySkippedError)
    deliver(bob, msgs[max_skip], b"%d" % max_skip)
    for i in range(max_skip):
        deliver(bob, msgs[i], b"%d" % i)
    bob.state, reply = bob.state.encrypt(b"ok", AD)
    deliver(alice, reply, b"ok")


@settings(max_examples=20, deadline=None)
@given(data=st.binary(min_size=0, max_size=200), he=st.booleans())
def test_random_bytes_never_decrypt(data: bytes, he: bool) -> None:
    alice, bob = new_parties(RatchetParams(header_encryption=he))
    alice.state, msg = alice.state.encrypt(b"x", AD)
    for candidate in (data, msg[: len(msg) // 2] + data):
        rejected_without_change(bob, candidate, ProtocolError)
    with pytest.raises(DecryptError):
        bob.state.decrypt(msg, AD + b"!")
    deliver(bob, msg, b"x")
