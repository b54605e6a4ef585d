"""The Noise Protocol Framework (revision 34), sans-I/O.

Concepts keep the spec's names: :class:`CipherState`, :class:`SymmetricState`,
:class:`HandshakeState`, handshake patterns, and the 25519 / ChaChaPoly /
SHA256 / BLAKE2b functions.
"""

from gateway.session.noise.cipher import ChaChaPoly
from gateway.session.noise.cipher_state import CipherState
from gateway.session.noise.dh import KeyPair, dh, generate_keypair
from gateway.session.noise.handshake_state import MAX_MESSAGE_LEN, HandshakeState
from gateway.session.noise.hash import BLAKE2B, SHA256, HashFunction
from gateway.session.noise.patterns import HandshakePattern, Token, parse_pattern
from gateway.session.noise.protocol import NoiseProtocol
from gateway.session.noise.symmetric_state import SymmetricState

__all__ = [
    "BLAKE2B",
    "MAX_MESSAGE_LEN",
    "SHA256",
    "ChaChaPoly",
    "CipherState",
    "HandshakePattern",
    "HandshakeState",
    "HashFunction",
    "KeyPair",
    "NoiseProtocol",
    "SymmetricState",
    "Token",
    "dh",
    "generate_keypair",
    "parse_pattern",
]
