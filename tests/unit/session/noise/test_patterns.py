"""Handshake patterns parsed from the spec notation, with PSK modifiers."""

from __future__ import annotations

import pytest

from gateway.errors import HandshakeError
from gateway.session.noise.patterns import PATTERN_NOTATION, Token, parse_pattern
from gateway.session.noise.protocol import NoiseProtocol

E, S, EE, ES, SE, SS, PSK = (Token(t) for t in ("e", "s", "ee", "es", "se", "ss", "psk"))


def test_the_table_holds_every_spec_pattern() -> None:
    assert len(PATTERN_NOTATION) == 3 + 12 + 23
    for name in PATTERN_NOTATION:
        pattern = parse_pattern(name)
        assert pattern.messages and pattern.messages[0][0] is True  # initiator starts


def test_xk() -> None:
    xk = parse_pattern("XK")
    assert xk.initiator_pre == () and xk.responder_pre == (S,)
    assert xk.messages == ((True, (E, ES)), (False, (E, EE)), (True, (S, SE)))
    assert not xk.one_way and not xk.has_psk


def test_psk_modifiers() -> None:
    assert parse_pattern("NNpsk0").messages[0] == (True, (PSK, E))
    assert parse_pattern("XKpsk3").messages[2] == (True, (S, SE, PSK))
    both = parse_pattern("NNpsk0+psk2")
    assert both.messages == ((True, (PSK, E)), (False, (E, EE, PSK)))
    assert both.has_psk


def test_one_way_and_deferred() -> None:
    assert parse_pattern("X").one_way
    assert parse_pattern("X1K1").messages[-1] == (False, (SE,))


@pytest.mark.parametrize("name", ["", "QQ", "XK2", "XKpsk", "NNpsk3", "XK+psk1", "xk"])
def test_unknown_patterns(name: str) -> None:
    with pytest.raises(HandshakeError):
        parse_pattern(name)


@pytest.mark.parametrize(
    "name",
    [
        "Noise_XK_448_ChaChaPoly_SHA256",
        "Noise_XK_25519_AESGCM_SHA256",
        "Noise_XK_25519_ChaChaPoly_SHA512",
        "Noisy_XK_25519_ChaChaPoly_SHA256",
        "Noise_XK_25519_ChaChaPoly",
    ],
)
def test_unsupported_protocol_names(name: str) -> None:
    with pytest.raises(HandshakeError):
        NoiseProtocol.from_name(name)
