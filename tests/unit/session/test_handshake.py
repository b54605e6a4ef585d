"""The app-level XK handshake: agreement, identity binding, PQ step and negative cases."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.config.schema import PaddingMode
from gateway.errors import DecryptError, HandshakeError, SessionStateError, VersionError
from gateway.session import handshake as hs_module
from gateway.session import pq
from gateway.session.handshake import (
    InitiatorHandshake,
    ResponderHandshake,
    Stage,
    normalize_onion,
    prologue,
)
from gateway.session.noise.dh import KeyPair
from gateway.session.offer import Offer
from tests.unit.session.test_handshake_helpers import ALICE, BOB, ONION, pair, run

TYPED = (HandshakeError, VersionError, DecryptError)


@pytest.mark.parametrize("post_quantum", [False, True])
def test_both_sides_agree(post_quantum: bool) -> None:
    a, b = run(post_quantum)
    assert (a.sk, a.shared_hka, a.shared_nhkb) == (b.sk, b.shared_hka, b.shared_nhkb)
    assert len({a.sk, a.shared_hka, a.shared_nhkb}) == 3
    assert a.handshake_hash == b.handshake_hash
    assert a.remote_identity == BOB.identity_public
    assert b.remote_identity == ALICE.identity_public
    assert a.remote_static == BOB.static_public
    assert b.remote_static == ALICE.static_public
    assert a.is_initiator and not b.is_initiator
    assert a.post_quantum == b.post_quantum == post_quantum
    assert a.ratchet_public == b.ratchet_public
    assert a.ratchet_private is None and b.ratchet_private is not None
    assert KeyPair.from_private(b.ratchet_private).public == b.ratchet_public


def test_pq_changes_the_keys() -> None:
    classic, _ = run(False)
    hybrid, _ = run(True)
    assert classic.sk != hybrid.sk
    assert classic.handshake_hash != hybrid.handshake_hash


def test_same_randomness_gives_the_same_transcript() -> None:
    first, second = pair(False), pair(False)
    m1 = first[0].start()
    assert m1 == second[0].start()
    assert first[1].respond(m1) == second[1].respond(m1)


def test_message_sizes() -> None:
    for post_quantum, sizes in ((False, (51, 179, 162)), (True, (1235, 1267, 162))):
        initiator, responder = pair(post_quantum)
        m1 = initiator.start()
        m2 = responder.respond(m1)
        m3 = initiator.receive(m2)
        assert (len(m1), len(m2), len(m3)) == sizes


def test_wrong_responder_key_fails_at_the_responder() -> None:
    wrong = X25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    initiator = InitiatorHandshake(
        ALICE.identity, ALICE.static, wrong.public_bytes_raw(), ONION, Offer()
    )
    responder = ResponderHandshake(BOB.identity, BOB.static, ONION, Offer())
    with pytest.raises(DecryptError):
        responder.respond(initiator.start())
    assert responder.stage is Stage.WAIT_MESSAGE_1


def test_wrong_onion_address_fails() -> None:
    initiator, _ = pair(False)
    other = "a" * 55 + "d"
    responder = ResponderHandshake(BOB.identity, BOB.static, other, Offer())
    with pytest.raises(DecryptError):
        responder.respond(initiator.start())


def test_a_classic_initiator_is_refused_by_a_responder_that_requires_post_quantum() -> None:
    initiator, _ = pair(False)
    responder = ResponderHandshake(BOB.identity, BOB.static, ONION, Offer(post_quantum=True))
    with pytest.raises(HandshakeError, match="post-quantum mismatch"):
        responder.respond(initiator.start())
    assert responder.stage is Stage.WAIT_MESSAGE_1


def test_a_classic_responder_takes_the_post_quantum_step_when_asked() -> None:
    initiator, _ = pair(True)
    responder = ResponderHandshake(BOB.identity, BOB.static, ONION, Offer())
    m2 = responder.respond(initiator.start())
    result = responder.finish(initiator.receive(m2))
    assert len(m2) == 1267 and result.post_quantum and initiator.result.post_quantum
    assert result.sk == initiator.result.sk


STANDARD = Offer(False, False, PaddingMode.PADME_CELLS)
HIGH = Offer(False, True, PaddingMode.BUCKETS)
PARANOID = Offer(True, True, PaddingMode.FIXED)


@pytest.mark.parametrize("first", [STANDARD, HIGH, PARANOID])
@pytest.mark.parametrize("second", [STANDARD, HIGH, PARANOID])
def test_both_sides_agree_on_the_stronger_offer(first: Offer, second: Offer) -> None:
    initiator = InitiatorHandshake(
        ALICE.identity,
        ALICE.static,
        BOB.static_public,
        ONION,
        first.with_post_quantum(first.post_quantum or second.post_quantum),
    )
    responder = ResponderHandshake(BOB.identity, BOB.static, ONION, second)
    result = responder.finish(initiator.receive(responder.respond(initiator.start())))
    levels = [STANDARD, HIGH, PARANOID]
    expected = levels[max(levels.index(first), levels.index(second))]
    assert result.session_offer == initiator.result.session_offer == expected
    assert result.remote_offer == first.with_post_quantum(expected.post_quantum)
    assert initiator.result.remote_offer == second


@pytest.mark.parametrize("byte", [0x00, 0x10, 0x80, 0x01, 0x02])
def test_a_bad_offer_byte_is_a_handshake_error(byte: int) -> None:
    with pytest.raises(HandshakeError, match="offer"):
        Offer.decode(byte)


def test_an_offer_byte_round_trips() -> None:
    for offer in (STANDARD, HIGH, PARANOID, Offer(True, False, PaddingMode.BUCKETS)):
        assert Offer.decode(offer.encode()) == offer
    assert (STANDARD.encode(), HIGH.encode(), PARANOID.encode()) == (0x04, 0x0A, 0x0F)


def test_wrong_version_is_a_version_error() -> None:
    initiator, responder = pair(False)
    m1 = initiator.start()
    with pytest.raises(VersionError):
        responder.respond(bytes([m1[0] + 1]) + m1[1:])


def _refuse_every_flip(read: Callable[[bytes], object], good: bytes) -> None:
    for index in range(len(good)):
        bad = bytearray(good)
        bad[index] ^= 0x01 << (index % 8)
        with pytest.raises(TYPED):
            read(bytes(bad))


@pytest.mark.parametrize("post_quantum", [False, True])
def test_tampering_at_every_byte_is_refused_and_changes_nothing(post_quantum: bool) -> None:
    initiator, responder = pair(post_quantum)
    m1 = initiator.start()
    _refuse_every_flip(responder.respond, m1)
    m2 = responder.respond(m1)  # the state is unchanged: the real message still works
    _refuse_every_flip(initiator.receive, m2)
    m3 = initiator.receive(m2)
    _refuse_every_flip(responder.finish, m3)
    assert responder.finish(m3).sk == initiator.result.sk


def test_truncated_and_oversized_messages() -> None:
    initiator, responder = pair(False)
    m1 = initiator.start()
    for cut in range(len(m1)):
        with pytest.raises(TYPED):
            responder.respond(m1[:cut])
    with pytest.raises(TYPED):
        responder.respond(m1 + b"\x00")
    with pytest.raises(HandshakeError):
        responder.respond(m1[:2] + bytes(70000))
    m2 = responder.respond(m1)
    for cut in range(len(m2)):
        with pytest.raises(TYPED):
            initiator.receive(m2[:cut])


def test_replayed_and_out_of_order_messages() -> None:
    first_i, first_r = pair(False)
    m1 = first_i.start()
    m2 = first_r.respond(m1)
    m3 = first_i.receive(m2)
    initiator, responder = pair(False)
    with pytest.raises(HandshakeError):
        initiator.receive(m2)  # before start()
    with pytest.raises(HandshakeError):
        responder.finish(m3)  # message 3 first
    with pytest.raises(HandshakeError):
        responder.receive(m2)  # a message 2 at a responder
    initiator.start()
    responder.respond(m1)
    with pytest.raises(HandshakeError):
        responder.receive(m1)  # replayed message 1
    responder.receive(initiator.receive(m2))
    with pytest.raises(HandshakeError):
        responder.receive(m3)  # replayed message 3
    with pytest.raises(HandshakeError):
        initiator.receive(m2)  # replayed message 2


def test_message_3_from_another_handshake_is_refused() -> None:
    initiator, responder = pair(False, seed=b"other")
    m3_other = initiator.receive(responder.respond(initiator.start()))
    fresh_i, fresh_r = pair(False, seed=b"third")
    fresh_r.respond(fresh_i.start())
    with pytest.raises(TYPED):
        fresh_r.finish(m3_other)


def test_non_contact_identity_is_visible_and_can_be_refused() -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authorize(identity: bytes, static: bytes) -> bool:
        seen.append((identity, static))
        return False

    initiator, _ = pair(False)
    responder = ResponderHandshake(BOB.identity, BOB.static, ONION, Offer(), authorize=authorize)
    m3 = initiator.receive(responder.respond(initiator.start()))
    with pytest.raises(HandshakeError, match="not a contact"):
        responder.finish(m3)
    assert seen == [(ALICE.identity_public, ALICE.static_public)]
    assert responder.remote_identity is None and responder.stage is Stage.WAIT_MESSAGE_3


def test_identity_is_known_after_message_3_before_any_data() -> None:
    initiator, responder = pair(False)
    assert responder.remote_identity is None
    responder.receive(initiator.receive(responder.respond(initiator.start())))
    assert responder.remote_identity == ALICE.identity_public


def test_a_signature_not_over_this_handshake_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    initiator, responder = pair(False)
    m1 = initiator.start()
    real_sign = hs_module._sign

    def sign_other_hash(key: Ed25519PrivateKey, label: bytes, static: bytes, h: bytes) -> bytes:
        return real_sign(key, label, static, bytes(len(h)))

    monkeypatch.setattr(hs_module, "_sign", sign_other_hash)
    m2 = responder.respond(m1)
    monkeypatch.setattr(hs_module, "_sign", real_sign)
    with pytest.raises(HandshakeError, match="signature"):
        initiator.receive(m2)


def test_an_encapsulation_failure_is_a_handshake_error() -> None:
    initiator, _ = pair(True)

    def refuse(_key: bytes) -> tuple[bytes, bytes]:
        return pq.encapsulate(b"\xff" * pq.ENCAPSULATION_KEY_LEN)  # not reduced mod q

    responder = ResponderHandshake(
        BOB.identity, BOB.static, ONION, Offer(post_quantum=True), encapsulate=refuse
    )
    with pytest.raises(HandshakeError):
        responder.respond(initiator.start())
    assert responder.stage is Stage.WAIT_MESSAGE_1


def test_onion_address_forms() -> None:
    assert normalize_onion(ONION.upper() + ".onion") == ONION
    assert prologue(ONION) == b"gateway\x02" + ONION.encode()
    for bad in ("", "abc", ONION[:-1] + "a", ONION + "x"):
        with pytest.raises(HandshakeError):
            normalize_onion(bad)


def test_start_twice_and_result_early() -> None:
    initiator, responder = pair(False)
    with pytest.raises(SessionStateError):
        _ = initiator.result
    initiator.start()
    with pytest.raises(SessionStateError):
        initiator.start()
    with pytest.raises(SessionStateError):
        _ = responder.result
