"""The app-level handshake: Noise_XK_25519_ChaChaPoly_SHA256 with identity binding and PQ.

Sans-I/O. Three messages (layouts in docs/PROTOCOL.md, section "Handshake")::

    -> m1 = 02 01 || e, es, {offer_i [, ML-KEM ek]}
    <- m2 = 02 02 || e, ee, {id_r, sig_r, ratchet_r, offer_r [, ML-KEM ct]}
       (both sides: MixKey(ML-KEM shared secret) if post-quantum)
    -> m3 = 02 03 || s, se, {id_i, sig_i}

Each side's session offer (:mod:`gateway.session.offer`) says what it asks of the
session; the session takes the stronger of the two (``HandshakeResult.session_offer``).

Each identity signature is an Ed25519 signature over
``label || version || own Noise static public key || h``, where ``h`` is the
handshake hash at the point where the payload that carries the signature is
encrypted. The session root material is derived from Noise's Split() output
with HKDF-SHA256 (:func:`derive_root`).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway import PROTOCOL_VERSION
from gateway.errors import HandshakeError, SessionStateError, VersionError
from gateway.session import pq
from gateway.session.kdf_chain import hkdf_sha256
from gateway.session.noise.dh import DHLEN, KeyPair, Rng, dh, generate_keypair
from gateway.session.noise.handshake_state import HandshakeState
from gateway.session.offer import OFFER_LEN, Offer, stronger

PROTOCOL_NAME = "Noise_XK_25519_ChaChaPoly_SHA256"
PROLOGUE_LABEL = b"gateway"
INITIATOR_SIG_LABEL = b"gateway/v1 handshake initiator identity"
RESPONDER_SIG_LABEL = b"gateway/v1 handshake responder identity"
ROOT_INFO = b"gateway/v1 session root"

IDENTITY_LEN = 32
SIGNATURE_LEN = 64
HEADER_LEN = 2
TAG_LEN = 16

#: (identity public key, Noise static public key) -> whether to accept this initiator
Authorizer = Callable[[bytes, bytes], bool]

_ONION = re.compile(r"^[a-z2-7]{55}d$")


@dataclass(frozen=True)
class HandshakeResult:
    """What a finished handshake yields: the peer's identity and the session's root material."""

    is_initiator: bool
    post_quantum: bool
    #: the peer's Ed25519 identity public key (32 bytes)
    remote_identity: bytes
    #: the peer's Noise static X25519 public key (32 bytes)
    remote_static: bytes
    #: the final Noise handshake hash h (32 bytes)
    handshake_hash: bytes
    #: root key of the Double Ratchet (32 bytes)
    sk: bytes = field(repr=False)
    #: initial header keys of the ratchet's header encryption (32 bytes each)
    shared_hka: bytes = field(repr=False)
    shared_nhkb: bytes = field(repr=False)
    #: the responder's initial ratchet public key (both sides know it)
    ratchet_public: bytes
    #: the responder's initial ratchet private key (None on the initiator)
    ratchet_private: bytes | None = field(default=None, repr=False)
    #: what the peer offered, and the session both sides open (the stronger of the two offers)
    remote_offer: Offer = field(default_factory=Offer)
    session_offer: Offer = field(default_factory=Offer)


class Stage(enum.Enum):
    """Where a handshake side is."""

    START = "start"
    WAIT_MESSAGE_2 = "wait message 2"
    WAIT_MESSAGE_1 = "wait message 1"
    WAIT_MESSAGE_3 = "wait message 3"
    DONE = "done"


def normalize_onion(address: str) -> str:
    """The 56-character v3 onion address (lower case, without ``.onion``)."""
    name = address.strip().lower().removesuffix(".onion")
    if not _ONION.match(name):
        raise HandshakeError(f"not a v3 onion address: {address!r}")
    return name


def prologue(onion_address: str) -> bytes:
    """The Noise prologue: ``b"gateway" || version byte || responder onion (56 ascii)``."""
    return PROLOGUE_LABEL + bytes([PROTOCOL_VERSION]) + normalize_onion(onion_address).encode()


def signed_data(label: bytes, static_public: bytes, h: bytes) -> bytes:
    """The bytes an identity signature covers."""
    return label + bytes([PROTOCOL_VERSION]) + static_public + h


def derive_root(noise: HandshakeState) -> tuple[bytes, bytes, bytes]:
    """``(sk, shared_hka, shared_nhkb)`` from Split() of a finished handshake.

    HKDF-SHA256(salt = h, ikm = k1 || k2, info = ROOT_INFO, 96 bytes), cut in three.
    """
    c1, c2 = noise.split()
    if c1.k is None or c2.k is None:
        raise SessionStateError("Split() produced no keys")
    okm = hkdf_sha256(noise.handshake_hash, c1.k + c2.k, ROOT_INFO, 96)
    return okm[:32], okm[32:64], okm[64:96]


def _result(
    noise: HandshakeState,
    is_initiator: bool,
    offers: tuple[Offer, Offer],
    remote_identity: bytes,
    ratchet_public: bytes,
    ratchet_private: bytes | None = None,
) -> HandshakeResult:
    """The result of a finished handshake, with the root material from :func:`derive_root`.

    ``offers`` is (the local offer as sent, the peer's offer).
    """
    sk, hka, nhkb = derive_root(noise)
    session = stronger(*offers)
    return HandshakeResult(
        is_initiator=is_initiator,
        post_quantum=session.post_quantum,
        remote_identity=remote_identity,
        remote_static=noise.remote_static or b"",
        handshake_hash=noise.handshake_hash,
        sk=sk,
        shared_hka=hka,
        shared_nhkb=nhkb,
        ratchet_public=ratchet_public,
        ratchet_private=ratchet_private,
        remote_offer=offers[1],
        session_offer=session,
    )


def _frame(number: int, noise_message: bytes) -> bytes:
    return bytes([PROTOCOL_VERSION, number]) + noise_message


def message_size(number: int, post_quantum: bool) -> int:
    """The exact size of handshake message ``number`` (1, 2 or 3), header included."""
    kem = {1: pq.ENCAPSULATION_KEY_LEN, 2: pq.CIPHERTEXT_LEN, 3: 0}[number] if post_quantum else 0
    noise = {1: DHLEN, 2: DHLEN, 3: DHLEN + TAG_LEN}[number]
    payload = {
        1: OFFER_LEN,
        2: IDENTITY_LEN + SIGNATURE_LEN + DHLEN + OFFER_LEN,
        3: IDENTITY_LEN + SIGNATURE_LEN,
    }
    return HEADER_LEN + noise + payload[number] + kem + TAG_LEN


def _unframe(message: bytes, number: int, post_quantum: bool) -> bytes:
    if len(message) < HEADER_LEN:
        raise HandshakeError("handshake message truncated: no header")
    if message[0] != PROTOCOL_VERSION:
        raise VersionError(f"handshake version {message[0]}, this node speaks {PROTOCOL_VERSION}")
    if message[1] != number:
        raise HandshakeError(f"expected handshake message {number}, got message {message[1]}")
    size = message_size(number, post_quantum)
    if number == 1 and len(message) in (message_size(1, False), message_size(1, True)):
        return message[HEADER_LEN:]  # the payload's offer byte says which size it must be
    if len(message) != size:
        raise HandshakeError(f"handshake message {number} is {len(message)} bytes, not {size}")
    return message[HEADER_LEN:]


def _sign(identity: Ed25519PrivateKey, label: bytes, static_public: bytes, h: bytes) -> bytes:
    return identity.sign(signed_data(label, static_public, h))


def verify_signature(identity: bytes, signature: bytes, data: bytes) -> None:
    """Check an Ed25519 signature; HandshakeError if the key or the signature is bad."""
    try:
        Ed25519PublicKey.from_public_bytes(identity).verify(signature, data)
    except (InvalidSignature, ValueError) as exc:
        raise HandshakeError("the peer's identity signature is not valid") from exc


def _verify(identity: bytes, signature: bytes, label: bytes, static: bytes, h: bytes) -> None:
    verify_signature(identity, signature, signed_data(label, static, h))


def _identity_bytes(identity: Ed25519PrivateKey) -> bytes:
    return identity.public_key().public_bytes_raw()


def _expect_len(payload: bytes, size: int, what: str) -> None:
    if len(payload) != size:
        raise HandshakeError(f"{what} payload is {len(payload)} bytes, expected {size}")


class InitiatorHandshake:
    """The initiator (the side that knows the responder's static key from an invite)."""

    def __init__(
        self,
        identity: Ed25519PrivateKey,
        static: X25519PrivateKey,
        responder_static_pub: bytes,
        responder_onion: str,
        offer: Offer,
        *,
        rng: Rng = os.urandom,
    ) -> None:
        if len(responder_static_pub) != DHLEN:
            raise HandshakeError("the responder's static key is not 32 bytes")
        self._identity = identity
        self._static = KeyPair.from_key(static)
        self._offer = offer
        self._post_quantum = offer.post_quantum
        self._rng = rng
        self._kem: pq.KemKeyPair | None = None
        self._noise = HandshakeState(
            PROTOCOL_NAME,
            True,
            prologue(responder_onion),
            s=self._static,
            rs=responder_static_pub,
            rng=rng,
        )
        self.stage = Stage.START
        self._result: HandshakeResult | None = None

    def start(self) -> bytes:
        """Message 1."""
        if self.stage is not Stage.START:
            raise SessionStateError("start() was already called")
        payload = bytes([self._offer.encode()])
        if self._post_quantum:
            self._kem = pq.generate_kem_keypair(self._rng)
            payload += self._kem.encapsulation_key
        message = _frame(1, self._noise.write_message(payload))
        self.stage = Stage.WAIT_MESSAGE_2
        return message

    def receive(self, message: bytes) -> bytes:
        """Take message 2 and return message 3; the handshake is then finished."""
        if self.stage is not Stage.WAIT_MESSAGE_2:
            raise HandshakeError(f"unexpected handshake message in stage {self.stage.value!r}")
        noise = self._noise.copy()
        payload = noise.read_message(_unframe(message, 2, self._post_quantum))
        remote_identity, ratchet_public, remote_offer, ciphertext = self._parse_message_2(payload)
        _verify(
            remote_identity,
            payload[IDENTITY_LEN : IDENTITY_LEN + SIGNATURE_LEN],
            RESPONDER_SIG_LABEL,
            noise.remote_static or b"",
            noise.payload_hash,
        )
        if self._kem is not None:
            noise.mix_key(self._kem.decapsulate(ciphertext))
        reply = noise.write_message(self._message_3_payload)
        self._noise = noise
        self._result = _result(
            noise, True, (self._offer, remote_offer), remote_identity, ratchet_public
        )
        self.stage = Stage.DONE
        return _frame(3, reply)

    def _parse_message_2(self, payload: bytes) -> tuple[bytes, bytes, Offer, bytes]:
        keys = IDENTITY_LEN + SIGNATURE_LEN + DHLEN
        fixed = keys + OFFER_LEN
        size = fixed + (pq.CIPHERTEXT_LEN if self._post_quantum else 0)
        _expect_len(payload, size, "message 2")
        ratchet_public = payload[IDENTITY_LEN + SIGNATURE_LEN : keys]
        dh(self._static, ratchet_public)  # HandshakeError for a low-order ratchet key
        remote_offer = Offer.decode(payload[keys])
        if remote_offer.post_quantum and not self._post_quantum:
            raise HandshakeError("post-quantum mismatch: the responder requires the ML-KEM step")
        return payload[:IDENTITY_LEN], ratchet_public, remote_offer, payload[fixed:]

    def _message_3_payload(self, h: bytes) -> bytes:
        signature = _sign(self._identity, INITIATOR_SIG_LABEL, self._static.public, h)
        return _identity_bytes(self._identity) + signature

    @property
    def result(self) -> HandshakeResult:
        """The result, once message 2 was accepted."""
        if self._result is None:
            raise SessionStateError("the handshake is not finished")
        return self._result


class ResponderHandshake:
    """The responder (the onion service side)."""

    def __init__(
        self,
        identity: Ed25519PrivateKey,
        static: X25519PrivateKey,
        onion_address: str,
        offer: Offer,
        *,
        rng: Rng = os.urandom,
        encapsulate: pq.Encapsulator = pq.encapsulate,
        authorize: Authorizer | None = None,
    ) -> None:
        self._identity = identity
        self._static = KeyPair.from_key(static)
        self._offer = offer
        self._remote_offer: Offer | None = None
        self._rng = rng
        self._encapsulate = encapsulate
        self._authorize = authorize
        self._noise = HandshakeState(
            PROTOCOL_NAME, False, prologue(onion_address), s=self._static, rng=rng
        )
        self._ratchet: KeyPair | None = None
        self.stage = Stage.WAIT_MESSAGE_1
        self._result: HandshakeResult | None = None
        self._remote_identity: bytes | None = None

    def receive(self, message: bytes) -> bytes | HandshakeResult:
        """Message 1 gives message 2 (bytes); message 3 gives the HandshakeResult."""
        if self.stage is Stage.WAIT_MESSAGE_1:
            return self.respond(message)
        if self.stage is Stage.WAIT_MESSAGE_3:
            return self.finish(message)
        raise HandshakeError(f"unexpected handshake message in stage {self.stage.value!r}")

    def respond(self, message: bytes) -> bytes:
        """Take message 1 and return message 2."""
        if self.stage is not Stage.WAIT_MESSAGE_1:
            raise HandshakeError(f"unexpected message 1 in stage {self.stage.value!r}")
        noise = self._noise.copy()
        body = _unframe(message, 1, self._offer.post_quantum)
        remote_offer, encapsulation_key = self._parse_message_1(noise.read_message(body))
        shared_secret, ciphertext = b"", b""
        if encapsulation_key is not None:
            shared_secret, ciphertext = self._encapsulate(encapsulation_key)
        ratchet = generate_keypair(self._rng)

        def payload(h: bytes) -> bytes:
            signature = _sign(self._identity, RESPONDER_SIG_LABEL, self._static.public, h)
            offer = bytes([self._offer.encode()])
            return _identity_bytes(self._identity) + signature + ratchet.public + offer + ciphertext

        reply = noise.write_message(payload)
        if encapsulation_key is not None:
            noise.mix_key(shared_secret)
        self._noise, self._ratchet = noise, ratchet
        self._remote_offer = remote_offer
        self.stage = Stage.WAIT_MESSAGE_3
        return _frame(2, reply)

    def _parse_message_1(self, payload: bytes) -> tuple[Offer, bytes | None]:
        """The initiator's offer and, if it takes the post-quantum step, its ML-KEM key."""
        if not payload:
            raise HandshakeError("message 1 payload is empty")
        offer = Offer.decode(payload[0])
        if self._offer.post_quantum and not offer.post_quantum:
            raise HandshakeError(
                "post-quantum mismatch: the initiator does not take the hybrid ML-KEM step,"
                " this node requires it"
            )
        if not offer.post_quantum:
            _expect_len(payload, OFFER_LEN, "message 1")
            return offer, None
        _expect_len(payload, OFFER_LEN + pq.ENCAPSULATION_KEY_LEN, "message 1")
        return offer, payload[OFFER_LEN:]

    def finish(self, message: bytes) -> HandshakeResult:
        """Take message 3 and return the result (the initiator's identity is checked)."""
        if self.stage is not Stage.WAIT_MESSAGE_3:
            raise HandshakeError(f"unexpected message 3 in stage {self.stage.value!r}")
        noise = self._noise.copy()
        payload = noise.read_message(_unframe(message, 3, False))  # one size either way
        _expect_len(payload, IDENTITY_LEN + SIGNATURE_LEN, "message 3")
        remote_identity, signature = payload[:IDENTITY_LEN], payload[IDENTITY_LEN:]
        remote_static = noise.remote_static or b""
        _verify(remote_identity, signature, INITIATOR_SIG_LABEL, remote_static, noise.payload_hash)
        if self._authorize is not None and not self._authorize(remote_identity, remote_static):
            raise HandshakeError("the initiator is not a contact")
        self._noise = noise
        self._remote_identity = remote_identity
        self._result = self._build_result(remote_identity)
        self.stage = Stage.DONE
        return self._result

    def _build_result(self, remote_identity: bytes) -> HandshakeResult:
        if self._ratchet is None or self._remote_offer is None:
            raise SessionStateError("no ratchet key")
        return _result(
            self._noise,
            False,
            (self._offer, self._remote_offer),
            remote_identity,
            self._ratchet.public,
            self._ratchet.private,
        )

    @property
    def remote_identity(self) -> bytes | None:
        """The initiator's verified identity key, once message 3 was accepted."""
        return self._remote_identity

    @property
    def result(self) -> HandshakeResult:
        """The result, once message 3 was accepted."""
        if self._result is None:
            raise SessionStateError("the handshake is not finished")
        return self._result
