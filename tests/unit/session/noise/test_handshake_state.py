"""HandshakeState: order, malformed messages, decrypt-on-a-copy, the payload hook."""

from __future__ import annotations

import pytest

from gateway.errors import DecryptError, HandshakeError, SessionStateError
from gateway.session.noise.dh import KeyPair
from gateway.session.noise.handshake_state import MAX_MESSAGE_LEN, HandshakeState

XK = "Noise_XK_25519_ChaChaPoly_SHA256"
S_I = KeyPair.from_private(bytes([1]) * 32)
S_R = KeyPair.from_private(bytes([2]) * 32)
LOW_ORDER = bytes(32)  # the point 0


def _pair(prologue: bytes = b"p") -> tuple[HandshakeState, HandshakeState]:
    return (
        HandshakeState(XK, True, prologue, s=S_I, rs=S_R.public),
        HandshakeState(XK, False, prologue, s=S_R),
    )


def test_xk_round_trip_and_split() -> None:
    init, resp = _pair()
    assert resp.read_message(init.write_message(b"a")) == b"a"
    assert init.read_message(resp.write_message(b"b")) == b"b"
    assert resp.read_message(init.write_message(b"c")) == b"c"
    assert init.finished and resp.finished
    assert resp.remote_static == S_I.public
    i_send, i_recv = init.split()
    r_recv, r_send = resp.split()
    assert r_recv.decrypt_with_ad(b"", i_send.encrypt_with_ad(b"", b"x")) == b"x"
    assert i_recv.decrypt_with_ad(b"", r_send.encrypt_with_ad(b"", b"y")) == b"y"


def test_wrong_turn_and_early_split() -> None:
    init, resp = _pair()
    with pytest.raises(SessionStateError):
        init.read_message(b"x" * 48)
    with pytest.raises(SessionStateError):
        resp.write_message()
    with pytest.raises(SessionStateError):
        init.split()


def test_every_flipped_byte_is_refused_and_the_state_is_kept() -> None:
    init, resp = _pair()
    message = init.write_message(b"payload")
    h_before = resp.handshake_hash
    for index in range(len(message)):
        bad = bytearray(message)
        bad[index] ^= 0x04
        with pytest.raises((DecryptError, HandshakeError)):
            resp.read_message(bytes(bad))
        assert resp.handshake_hash == h_before and resp.message_index == 0
    assert resp.read_message(message) == b"payload"


def test_truncated_oversized_and_low_order() -> None:
    init, resp = _pair()
    message = init.write_message(b"")
    for cut in range(len(message)):
        with pytest.raises((DecryptError, HandshakeError)):
            resp.read_message(message[:cut])
    with pytest.raises(HandshakeError):
        resp.read_message(bytes(MAX_MESSAGE_LEN + 1))
    with pytest.raises(HandshakeError):
        resp.read_message(LOW_ORDER + message[32:])
    with pytest.raises(SessionStateError):
        init.write_message(bytes(MAX_MESSAGE_LEN))


def test_prologue_mismatch_fails() -> None:
    init, _ = _pair(b"one")
    _, resp = _pair(b"two")
    with pytest.raises(DecryptError):
        resp.read_message(init.write_message(b""))


def test_payload_function_sees_h_at_the_payload_position() -> None:
    init, resp = _pair()
    seen: list[bytes] = []

    def payload(h: bytes) -> bytes:
        seen.append(h)
        return b"signed"

    message = init.write_message(payload)
    assert resp.read_message(message) == b"signed"
    assert seen == [init.payload_hash] == [resp.payload_hash]
    assert init.handshake_hash != init.payload_hash


def test_missing_keys_and_psks() -> None:
    with pytest.raises(SessionStateError):
        HandshakeState(XK, True, b"", s=S_I)  # no responder static for the pre-message
    with pytest.raises(SessionStateError):
        HandshakeState("Noise_NNpsk0_25519_ChaChaPoly_SHA256", True, psks=[b"short"])
    nn_psk = HandshakeState("Noise_NNpsk0_25519_ChaChaPoly_SHA256", True)
    with pytest.raises(SessionStateError):
        nn_psk.write_message()
