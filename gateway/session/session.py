"""A peer session: the handshake's result, the Double Ratchet and padded frames, composed.

Sans-I/O. The safe order is the only order the API offers: every call that
advances the ratchet takes a ``persist`` function and calls
``persist(new_state_blob, records)`` *before* it changes anything in memory
or releases any bytes. If ``persist`` raises, the session is unchanged and
nothing is released, so a crash can never make the node send two ciphertexts
under the same (key, nonce).

Wire record (what the link layer sends; the padding mode controls its whole size)::

    u32 length (big-endian, = len(ratchet message)) | ratchet message

The ratchet message's plaintext is one padded frame (:mod:`gateway.session.frames`);
the AEAD associated data is the handshake hash. See docs/PROTOCOL.md.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Callable
from dataclasses import dataclass

from gateway.config.schema import PaddingMode
from gateway.errors import FrameError, SessionStateError, VersionError
from gateway.session.frames import (
    FrameDecoder,
    FrameEncoder,
    FrameType,
    record_sizes,
)
from gateway.session.handshake import HandshakeResult
from gateway.session.options import SessionOptions as SessionOptions
from gateway.session.padding import is_allowed_record_size
from gateway.session.ratchet import RatchetParams, RatchetState, Rng
from gateway.session.state_codec import Reader, Writer

#: version byte of the session state blob
SESSION_STATE_VERSION = 1
#: bytes of the record length prefix
RECORD_PREFIX_SIZE = 4
_PREFIX = struct.Struct("!I")

_MODE_CODES = {PaddingMode.PADME_CELLS: 1, PaddingMode.BUCKETS: 2, PaddingMode.FIXED: 3}
_CODE_MODES = {code: mode for mode, code in _MODE_CODES.items()}
_FLAG_INITIATOR = 0x01
_FLAG_POST_QUANTUM = 0x02

#: persist(new_state_blob, wire_records): store durably, or raise
Persist = Callable[[bytes, list[bytes]], None]


@dataclass(frozen=True)
class DataReceived:
    """An application payload from the peer."""

    payload: bytes


@dataclass(frozen=True)
class CoverReceived:
    """A cover (dummy) record arrived; ``payload`` is what its sender put inside, if anything."""

    payload: bytes


@dataclass(frozen=True)
class ControlReceived:
    """A link-layer control payload from the peer."""

    payload: bytes


Event = DataReceived | ControlReceived | CoverReceived


@dataclass(frozen=True)
class PeerInfo:
    """What the handshake established about the peer (kept in the session state)."""

    is_initiator: bool
    post_quantum: bool
    handshake_hash: bytes
    remote_identity: bytes
    remote_static: bytes


def record_overhead(params: RatchetParams) -> int:
    """Bytes a record adds to its frame: the length prefix plus the ratchet overhead."""
    return RECORD_PREFIX_SIZE + RatchetState.overhead(params)


class Session:
    """One side of an established session."""

    def __init__(
        self,
        ratchet: RatchetState,
        options: SessionOptions,
        peer: PeerInfo,
        pending: tuple[bytes, ...] = (),
    ) -> None:
        if ratchet.params != options.ratchet:
            raise SessionStateError("the ratchet's parameters differ from the session options")
        self._ratchet = ratchet
        self.options = options
        self.peer = peer
        self.overhead = record_overhead(options.ratchet)
        self._encoder = FrameEncoder(
            options.padding_mode,
            self.overhead,
            fixed_size=options.fixed_size,
            max_payload=options.max_payload,
        )
        self._decoder = self._new_decoder()
        for inner in pending:
            if self._decoder.feed(inner) is not None:
                raise SessionStateError("a pending fragment completes a payload")
        self._pending = pending

    def _new_decoder(self) -> FrameDecoder:
        o = self.options
        return FrameDecoder(
            o.padding_mode, self.overhead, fixed_size=o.fixed_size, max_payload=o.max_payload
        )

    @classmethod
    def from_handshake(
        cls,
        result: HandshakeResult,
        options: SessionOptions,
        *,
        rng: Rng | None = None,
        ratchet_private: bytes | None = None,
    ) -> Session:
        """The session that starts from a finished handshake.

        ``rng`` feeds the ratchet (new DH keys, header nonces); ``ratchet_private``
        fixes the initiator's first ratchet key (both only for reproducible tests).
        """
        params = options.ratchet
        keys = {"shared_hka": result.shared_hka, "shared_nhkb": result.shared_nhkb}
        if result.is_initiator:
            ratchet = RatchetState.init_initiator(
                result.sk,
                result.ratchet_public,
                params,
                rng=rng,
                ratchet_private=ratchet_private,
                **keys,
            )
        else:
            if result.ratchet_private is None:
                raise SessionStateError("a responder result without its ratchet key")
            ratchet = RatchetState.init_responder(
                result.sk, result.ratchet_private, params, rng=rng, **keys
            )
        peer = PeerInfo(
            result.is_initiator,
            result.post_quantum,
            result.handshake_hash,
            result.remote_identity,
            result.remote_static,
        )
        return cls(ratchet, options, peer)

    # --- properties ---------------------------------------------------------

    @property
    def can_send(self) -> bool:
        """False for a responder until the initiator's first record arrived."""
        return self._ratchet.can_send

    @property
    def remote_identity(self) -> bytes:
        """The peer's Ed25519 identity public key."""
        return self.peer.remote_identity

    @property
    def max_record_size(self) -> int:
        """The largest record this session sends or accepts (for the link's reader)."""
        o = self.options
        sizes = record_sizes(o.padding_mode, o.max_payload, self.overhead, fixed_size=o.fixed_size)
        return max(sizes)

    # --- sending --------------------------------------------------------------

    def _encrypt(self, inners: list[bytes]) -> tuple[RatchetState, list[bytes]]:
        ratchet = self._ratchet
        records: list[bytes] = []
        for inner in inners:
            ratchet, message = ratchet.encrypt(inner, self.peer.handshake_hash)
            records.append(_PREFIX.pack(len(message)) + message)
        return ratchet, records

    def _commit_send(self, ratchet: RatchetState, records: list[bytes], persist: Persist) -> None:
        persist(self._blob(ratchet, self._pending), list(records))
        self._ratchet = ratchet

    def seal(
        self, payload: bytes, persist: Persist, *, frame_type: FrameType = FrameType.DATA
    ) -> list[bytes]:
        """The records that carry ``payload``; persisted before they are returned."""
        ratchet, records = self._encrypt(self._encoder.encode(payload, frame_type))
        self._commit_send(ratchet, records, persist)
        return records

    def dummy(
        self, persist: Persist, record_size: int | None = None, payload: bytes = b""
    ) -> bytes:
        """A cover record (default: the smallest allowed size), same form as real ones.

        ``payload`` (a few bytes) is handed to the receiver as :class:`CoverReceived`.
        """
        ratchet, records = self._encrypt([self._encoder.dummy(record_size, payload)])
        self._commit_send(ratchet, records, persist)
        return records[0]

    # --- receiving ------------------------------------------------------------

    def open(self, record: bytes, persist: Persist) -> list[Event]:
        """The events of one received record; persisted before they are returned.

        Non-final fragments give no event, dummy records a :class:`CoverReceived`.
        On any error the session is unchanged.
        """
        message = self._unframe(record)
        ratchet, inner = self._ratchet.decrypt(message, self.peer.handshake_hash)
        decoder = copy.deepcopy(self._decoder)
        frame = decoder.feed(inner)
        pending: tuple[bytes, ...] = ()
        events: list[Event] = []
        if frame is None:
            pending = (*self._pending, inner)
        elif frame.type is FrameType.DATA:
            events.append(DataReceived(frame.payload))
        elif frame.type is FrameType.CONTROL:
            events.append(ControlReceived(frame.payload))
        else:
            pending = self._pending  # a dummy between fragments leaves them pending
            events.append(CoverReceived(frame.payload))
        persist(self._blob(ratchet, pending), [])
        self._ratchet, self._decoder, self._pending = ratchet, decoder, pending
        return events

    def _unframe(self, record: bytes) -> bytes:
        if len(record) < RECORD_PREFIX_SIZE:
            raise FrameError("record shorter than its length prefix")
        (length,) = _PREFIX.unpack_from(record)
        if length != len(record) - RECORD_PREFIX_SIZE:
            raise FrameError(f"record length prefix {length} does not match the record")
        mode, size = self.options.padding_mode, len(record)
        if not is_allowed_record_size(mode, size, fixed_size=self.options.fixed_size):
            raise FrameError(f"record size {size} is not allowed by {mode.value} padding")
        return record[RECORD_PREFIX_SIZE:]

    # --- state ----------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The versioned state blob (secret)."""
        return self._blob(self._ratchet, self._pending)

    def _blob(self, ratchet: RatchetState, pending: tuple[bytes, ...]) -> bytes:
        out = Writer()
        out.u8(SESSION_STATE_VERSION)
        flags = _FLAG_INITIATOR if self.peer.is_initiator else 0
        out.u8(flags | (_FLAG_POST_QUANTUM if self.peer.post_quantum else 0))
        out.u8(_MODE_CODES[self.options.padding_mode])
        out.u32(self.options.fixed_size)
        out.u32(self.options.max_payload)
        for key in (self.peer.handshake_hash, self.peer.remote_identity, self.peer.remote_static):
            out.raw(key, 32)
        inner_blob = ratchet.to_bytes()
        out.u32(len(inner_blob))
        out.raw(inner_blob, len(inner_blob))
        out.u16(len(pending))
        for inner in pending:
            out.u32(len(inner))
            out.raw(inner, len(inner))
        return out.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes, *, rng: Rng | None = None) -> Session:
        """Restore a session from :meth:`to_bytes` (VersionError for unknown versions)."""
        if not isinstance(blob, bytes) or not blob:
            raise SessionStateError("empty or non-bytes session state blob")
        src = Reader(blob)
        version = src.u8()
        if version != SESSION_STATE_VERSION:
            raise VersionError(f"unsupported session state version {version}")
        flags, mode_code = src.u8(), src.u8()
        if flags & ~(_FLAG_INITIATOR | _FLAG_POST_QUANTUM) or mode_code not in _CODE_MODES:
            raise SessionStateError("session state has unknown flags or padding mode")
        fixed_size, max_payload = src.u32(), src.u32()
        hh, identity, static = src.raw(32), src.raw(32), src.raw(32)
        ratchet = RatchetState.from_bytes(src.raw(src.u32()), rng=rng)
        pending = tuple(src.raw(src.u32()) for _ in range(src.u16()))
        src.finish()
        options = SessionOptions(_CODE_MODES[mode_code], ratchet.params, fixed_size, max_payload)
        peer = PeerInfo(
            bool(flags & _FLAG_INITIATOR), bool(flags & _FLAG_POST_QUANTUM), hh, identity, static
        )
        try:
            return cls(ratchet, options, peer, pending)
        except FrameError as exc:
            raise SessionStateError(f"session state holds a bad fragment: {exc}") from exc
