"""HandshakeState (Noise spec rev 34, section 5.3), with PSK support (section 9).

Sans-I/O: :meth:`HandshakeState.write_message` returns the bytes to send and
:meth:`HandshakeState.read_message` takes the bytes received. A read works on
a copy of the state and commits it only if the whole message was valid, so a
rejected message leaves the handshake exactly as it was.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.errors import HandshakeError, SessionStateError
from gateway.session.noise.cipher import TAGLEN
from gateway.session.noise.cipher_state import CipherState
from gateway.session.noise.dh import DHLEN, KeyPair, Rng, dh, generate_keypair
from gateway.session.noise.patterns import Token
from gateway.session.noise.protocol import NoiseProtocol
from gateway.session.noise.symmetric_state import SymmetricState

#: the largest Noise message (section 3)
MAX_MESSAGE_LEN = 65535
PSKLEN = 32

#: a payload, or a function of the handshake hash at the payload's position returning it
Payload = bytes | Callable[[bytes], bytes]


@dataclass
class _Progress:
    """The parts of a HandshakeState that change while messages are processed."""

    symmetric: SymmetricState
    e: KeyPair | None
    re: bytes | None
    rs: bytes | None
    message_index: int = 0
    psk_index: int = 0
    payload_hash: bytes = b""

    def copy(self) -> _Progress:
        return dataclasses.replace(self, symmetric=self.symmetric.copy())


class HandshakeState:
    """One side of a Noise handshake."""

    def __init__(
        self,
        protocol: NoiseProtocol | str,
        initiator: bool,
        prologue: bytes = b"",
        *,
        s: KeyPair | None = None,
        e: KeyPair | None = None,
        rs: bytes | None = None,
        re: bytes | None = None,
        psks: Sequence[bytes] = (),
        rng: Rng = os.urandom,
    ) -> None:
        if isinstance(protocol, str):
            protocol = NoiseProtocol.from_name(protocol)
        if any(len(psk) != PSKLEN for psk in psks):
            raise SessionStateError(f"a Noise PSK is {PSKLEN} bytes")
        self.protocol = protocol
        self.initiator = initiator
        self.s = s
        self._psks = tuple(psks)
        self._rng = rng
        symmetric = SymmetricState.initialize(protocol.name.encode("ascii"), protocol.hash_fn)
        symmetric.mix_hash(prologue)
        self._p = _Progress(symmetric, e, re, rs)
        self._mix_pre_messages()
        self._split: tuple[CipherState, CipherState] | None = None

    # --- set-up -----------------------------------------------------------

    def _mix_pre_messages(self) -> None:
        pattern = self.protocol.pattern
        for owner_is_initiator, tokens in (
            (True, pattern.initiator_pre),
            (False, pattern.responder_pre),
        ):
            local = owner_is_initiator == self.initiator
            for token in tokens:
                key = self._pre_message_key(token, local)
                self._p.symmetric.mix_hash(key)
                if token is Token.E and pattern.has_psk:
                    self._p.symmetric.mix_key(key)

    def _pre_message_key(self, token: Token, local: bool) -> bytes:
        if local:
            pair = self.s if token is Token.S else self._p.e
            key = pair.public if pair is not None else None
        else:
            key = self._p.rs if token is Token.S else self._p.re
        if key is None:
            side = "local" if local else "remote"
            raise SessionStateError(f"{self.protocol.name} needs the {side} {token.value} key")
        return key

    def copy(self) -> HandshakeState:
        """An independent copy: reading a message into it leaves this state unchanged."""
        clone = object.__new__(HandshakeState)
        clone.__dict__.update(self.__dict__)
        clone._p = self._p.copy()
        return clone

    # --- state ------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Whether every message of the pattern has been written or read."""
        return self._p.message_index >= len(self.protocol.pattern.messages)

    @property
    def is_my_turn(self) -> bool:
        """Whether the next message is one this side writes."""
        if self.finished:
            return False
        from_initiator, _ = self.protocol.pattern.messages[self._p.message_index]
        return from_initiator == self.initiator

    @property
    def message_index(self) -> int:
        """How many handshake messages have been processed."""
        return self._p.message_index

    @property
    def remote_static(self) -> bytes | None:
        """The remote party's static public key, once known."""
        return self._p.rs

    @property
    def remote_ephemeral(self) -> bytes | None:
        """The remote party's ephemeral public key, once known."""
        return self._p.re

    @property
    def handshake_hash(self) -> bytes:
        """The current handshake hash h (GetHandshakeHash)."""
        return self._p.symmetric.get_handshake_hash()

    @property
    def payload_hash(self) -> bytes:
        """h just before the last message's payload was encrypted or decrypted."""
        return self._p.payload_hash

    def split(self) -> tuple[CipherState, CipherState]:
        """The transport CipherStates (initiator-to-responder first), once finished."""
        if self._split is None:
            raise SessionStateError("the handshake is not finished")
        return self._split

    def mix_key(self, input_key_material: bytes) -> None:
        """MixKey on the handshake's SymmetricState between messages (a local extension).

        Used to mix a KEM shared secret into the chaining key, in the manner of
        the ``ekem1`` token of the Noise HFS extension.
        """
        if self.finished:
            raise SessionStateError("the handshake is finished")
        self._p.symmetric.mix_key(input_key_material)

    def _check_turn(self, writing: bool) -> None:
        if self.finished:
            raise SessionStateError("the handshake is already finished")
        if self.is_my_turn != writing:
            raise SessionStateError("not this side's turn to " + ("write" if writing else "read"))

    def _finish_message(self, p: _Progress) -> None:
        p.message_index += 1
        self._p = p
        if self.finished:
            self._split = p.symmetric.split()

    # --- tokens -------------------------------------------------------------

    def _dh_token(self, p: _Progress, token: Token) -> bytes:
        e, s, re, rs = p.e, self.s, p.re, p.rs
        pairs = {
            Token.EE: (e, re),
            Token.SS: (s, rs),
            Token.ES: (e, rs) if self.initiator else (s, re),
            Token.SE: (s, re) if self.initiator else (e, rs),
        }
        local, remote = pairs[token]
        if local is None or remote is None:
            raise SessionStateError(f"token {token.value} needs a key that is not set")
        return dh(local, remote)

    def _next_psk(self, p: _Progress) -> bytes:
        if p.psk_index >= len(self._psks):
            raise SessionStateError("the pattern needs more PSKs than were given")
        psk = self._psks[p.psk_index]
        p.psk_index += 1
        return psk

    def _mix_e(self, p: _Progress, public: bytes) -> None:
        p.symmetric.mix_hash(public)
        if self.protocol.pattern.has_psk:
            p.symmetric.mix_key(public)

    # --- writing ----------------------------------------------------------

    def write_message(self, payload: Payload = b"") -> bytes:
        """WriteMessage(payload): the next handshake message.

        ``payload`` may be a function; it is called with h at the payload's
        position (after the message's tokens) and returns the payload bytes.
        """
        self._check_turn(writing=True)
        p = self._p.copy()
        _, tokens = self.protocol.pattern.messages[p.message_index]
        out = bytearray()
        for token in tokens:
            out += self._write_token(p, token)
        p.payload_hash = p.symmetric.get_handshake_hash()
        body = payload(p.payload_hash) if callable(payload) else payload
        out += p.symmetric.encrypt_and_hash(body)
        if len(out) > MAX_MESSAGE_LEN:
            raise SessionStateError(f"a handshake message is at most {MAX_MESSAGE_LEN} bytes")
        self._finish_message(p)
        return bytes(out)

    def _write_token(self, p: _Progress, token: Token) -> bytes:
        if token is Token.E:
            if p.e is None:
                p.e = generate_keypair(self._rng)
            self._mix_e(p, p.e.public)
            return p.e.public
        if token is Token.S:
            if self.s is None:
                raise SessionStateError("the pattern needs the local static key")
            return p.symmetric.encrypt_and_hash(self.s.public)
        if token is Token.PSK:
            p.symmetric.mix_key_and_hash(self._next_psk(p))
            return b""
        p.symmetric.mix_key(self._dh_token(p, token))
        return b""

    # --- reading ----------------------------------------------------------

    def read_message(self, message: bytes) -> bytes:
        """ReadMessage(message): the payload; the state changes only if it is valid."""
        self._check_turn(writing=False)
        if len(message) > MAX_MESSAGE_LEN:
            raise HandshakeError(f"a handshake message is at most {MAX_MESSAGE_LEN} bytes")
        p = self._p.copy()
        _, tokens = self.protocol.pattern.messages[p.message_index]
        rest = memoryview(bytes(message))
        for token in tokens:
            rest = self._read_token(p, token, rest)
        p.payload_hash = p.symmetric.get_handshake_hash()
        payload = p.symmetric.decrypt_and_hash(bytes(rest))
        self._finish_message(p)
        return payload

    def _read_token(self, p: _Progress, token: Token, rest: memoryview) -> memoryview:
        if token is Token.E:
            if p.re is not None:
                raise SessionStateError("the remote ephemeral key is already set")
            p.re = _take(rest, DHLEN, "ephemeral key")
            self._mix_e(p, p.re)
            return rest[DHLEN:]
        if token is Token.S:
            if p.rs is not None:
                raise SessionStateError("the remote static key is already set")
            size = DHLEN + (TAGLEN if p.symmetric.cipher_state.has_key() else 0)
            p.rs = p.symmetric.decrypt_and_hash(_take(rest, size, "static key"))
            return rest[size:]
        if token is Token.PSK:
            p.symmetric.mix_key_and_hash(self._next_psk(p))
            return rest
        p.symmetric.mix_key(self._dh_token(p, token))
        return rest


def _take(data: memoryview, size: int, what: str) -> bytes:
    if len(data) < size:
        raise HandshakeError(f"handshake message truncated: {what} needs {size} bytes")
    return bytes(data[:size])
