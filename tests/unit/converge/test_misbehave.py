"""What a peer whose scripted AI has a fault mode sends instead of its messages."""

from __future__ import annotations

import random

import pytest

from gateway.converge.adapters.scripted import ScriptedFault
from gateway.converge.commit import commitment, make_commit, make_reveal
from gateway.converge.messages import Kind, decode, public_bytes
from gateway.converge.misbehave import outgoing
from gateway.converge.simulate import derive_key
from gateway.errors import ConvergeMessageError

KEY = derive_key(7, 1)
RID = bytes(range(32))
NONCE = b"\x05" * 32
REVEAL = make_reveal(KEY, RID, "ANSWER: 42", NONCE).raw
COMMIT = make_commit(KEY, RID, b"\x11" * 32).raw


@pytest.mark.parametrize("data", [REVEAL, COMMIT])
def test_an_honest_peer_sends_its_message_unchanged(data: bytes) -> None:
    assert outgoing(ScriptedFault.NONE, KEY, data, random.Random(0)) == [data]


@pytest.mark.parametrize("fault", [ScriptedFault.OFFLINE, ScriptedFault.TIMEOUT])
@pytest.mark.parametrize("data", [REVEAL, COMMIT])
def test_offline_and_timeout_peers_send_nothing(fault: ScriptedFault, data: bytes) -> None:
    assert outgoing(fault, KEY, data, random.Random(0)) == []


def test_a_garbage_peer_sends_undecodable_noise() -> None:
    rng = random.Random(3)
    for _ in range(50):
        sent = outgoing(ScriptedFault.GARBAGE, KEY, COMMIT, rng)
        assert len(sent) == 1 and sent[0] != COMMIT
        assert 1 <= len(sent[0]) <= 300
        with pytest.raises(ConvergeMessageError):
            decode(sent[0])


def test_garbage_is_reproducible_from_the_rng_seed() -> None:
    a = outgoing(ScriptedFault.GARBAGE, KEY, REVEAL, random.Random(9))
    b = outgoing(ScriptedFault.GARBAGE, KEY, REVEAL, random.Random(9))
    assert a == b


def test_an_equivocating_peer_sends_a_second_different_reveal() -> None:
    sent = outgoing(ScriptedFault.EQUIVOCATE, KEY, REVEAL, random.Random(0))
    assert len(sent) == 2 and sent[0] == REVEAL
    first, second = decode(sent[0]), decode(sent[1])
    assert second.kind is Kind.REVEAL and second.signer == public_bytes(KEY)
    assert second.body["round_id"] == RID.hex() and second.body["nonce"] == NONCE.hex()
    assert second.body["answer"] != first.body["answer"]
    me = public_bytes(KEY)
    # the second reveal cannot open the commitment of the first
    assert commitment(RID, me, second.body["answer"], NONCE) != commitment(
        RID, me, first.body["answer"], NONCE
    )


def test_an_equivocating_peer_sends_other_messages_unchanged() -> None:
    assert outgoing(ScriptedFault.EQUIVOCATE, KEY, COMMIT, random.Random(0)) == [COMMIT]
