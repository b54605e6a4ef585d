"""One link connection as a state machine: handshake, HELLO, then padded payloads (sans-I/O).

Bytes go in through :meth:`LinkConnection.receive`; bytes to write come out as
:class:`SendBytes` events, application payloads as :class:`PayloadReceived`.
No sockets, no asyncio: the I/O layer (:mod:`gateway.link.manager`) drives it.

Phases::

    HANDSHAKE  Noise XK (gateway.session.handshake) in padded handshake records
    HELLO      HELLO / HELLO_ACK under the fresh session: resume the stored session
               of this contact, or adopt the fresh one (gateway.link.hello)
    OPEN       payloads = u64 seq || link message, sealed by the session
    CLOSED

Every payload sent is persisted (session state, records, and the outbox ids it
carries, in one store call) before its records are returned, so a crash never
reuses a message key. A record that fails to decrypt or is a replay is counted
and dropped; the link stays up.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.config.schema import PaddingMode
from gateway.errors import (
    DecryptError,
    FrameError,
    HandshakeError,
    ProtocolError,
    ReplayError,
    SessionStateError,
    TooManySkippedError,
)
from gateway.link import hello as hello_msgs
from gateway.link.hello import Decision, Hello, HelloAck
from gateway.link.local import LocalNode as LocalNode
from gateway.link.records import HandshakeAssembler, RecordReader, handshake_records
from gateway.link.stored import StoredSession
from gateway.session.frames import FrameType
from gateway.session.handshake import (
    HandshakeResult,
    InitiatorHandshake,
    ResponderHandshake,
)
from gateway.session.offer import Offer
from gateway.session.session import ControlReceived, CoverReceived, Session, SessionOptions

SEQ = struct.Struct("!Q")
#: largest handshake record accepted before a session exists
MAX_HANDSHAKE_RECORD = 1 << 16


class Role(enum.Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class Phase(enum.Enum):
    HANDSHAKE = "handshake"
    HELLO = "hello"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Peer:
    """Whom an initiator dials (from its contact book or an invite)."""

    identity: bytes
    static: bytes
    onion: str
    pairing_secret: bytes = b""
    client_auth: bytes = b""
    #: the peer requires the post-quantum handshake (its invite or its last handshake said so)
    post_quantum: bool = False


class SessionStore(Protocol):
    """Durable storage of each contact's session (SQLite in the node)."""

    def load(self, contact: bytes) -> StoredSession | None: ...

    def save(
        self,
        contact: bytes,
        stored: StoredSession,
        records: Sequence[bytes],
        msg_ids: Sequence[bytes] = (),
        *,
        replaces: StoredSession | None = None,
    ) -> None:
        """Store the session, the records it produced and mark ``msg_ids`` sent: one transaction.

        With ``replaces`` (the state this one follows), raise SessionStateError and store
        nothing if the stored copy of that session moved on (``stored.check_successor``).
        """
        ...

    def drop(self, contact: bytes) -> None: ...


class Gatekeeper(Protocol):
    """The responder's decisions about who may talk to it."""

    def may_handshake(self, identity: bytes, static: bytes) -> bool:
        """Whether to finish a handshake with this peer (a contact, or pairing is possible)."""
        ...

    def admit(self, identity: bytes, static: bytes, hello: Hello) -> bool:
        """Whether to open the link: a contact, or a valid pairing secret in ``hello``."""
        ...


@dataclass(frozen=True)
class SendBytes:
    data: bytes


@dataclass(frozen=True)
class Opened:
    identity: bytes
    static: bytes
    resumed: bool
    hello: Hello | None  # what the initiator said (responder side)


@dataclass(frozen=True)
class PayloadReceived:
    seq: int
    data: bytes


@dataclass(frozen=True)
class Rejected:
    """A record dropped without closing the link (counted by the I/O layer)."""

    reason: str


Event = SendBytes | Opened | PayloadReceived | Rejected


def _no_persist(_blob: bytes, _records: list[bytes]) -> None:
    """The fresh session's HELLO exchange is not stored: its keys are new and single-use."""


class LinkConnection:
    """One connection's protocol state."""

    def __init__(
        self,
        local: LocalNode,
        role: Role,
        store: SessionStore,
        *,
        peer: Peer | None = None,
        gatekeeper: Gatekeeper | None = None,
    ) -> None:
        if (role is Role.INITIATOR) != (peer is not None):
            raise SessionStateError("an initiator needs the peer it dials; a responder none")
        if role is Role.RESPONDER and gatekeeper is None:
            raise SessionStateError("a responder needs a gatekeeper")
        self.local = local
        self.role = role
        self.store = store
        self.peer = peer
        self.gatekeeper = gatekeeper
        self.phase = Phase.HANDSHAKE
        self._reader = RecordReader(MAX_HANDSHAKE_RECORD)
        self._assembler = HandshakeAssembler()
        self._initiator: InitiatorHandshake | None = None
        self._responder: ResponderHandshake | None = None
        self._fresh: Session | None = None
        self._result: HandshakeResult | None = None
        self._hello: Hello | None = None
        self.session: Session | None = None
        self.stored: StoredSession | None = None
        self.remote_identity: bytes | None = None

    # --- starting -------------------------------------------------------------

    def start(self) -> list[Event]:
        """The initiator's first bytes (handshake message 1); nothing for a responder."""
        if self.role is Role.RESPONDER:
            self._responder = ResponderHandshake(
                self.local.identity,
                self.local.static,
                self.local.onion,
                self.local.offer,
                authorize=self._authorize,
            )
            return []
        assert self.peer is not None
        self._initiator = InitiatorHandshake(
            self.local.identity,
            self.local.static,
            self.peer.static,
            self.peer.onion,
            self.local.offer.with_post_quantum(self.local.post_quantum or self.peer.post_quantum),
        )
        return self._handshake_out(self._initiator.start())

    def _authorize(self, identity: bytes, static: bytes) -> bool:
        assert self.gatekeeper is not None
        return self.gatekeeper.may_handshake(identity, static)

    def _handshake_out(self, message: bytes) -> list[Event]:
        opts = self.local.options
        records = handshake_records(message, opts.padding_mode, fixed_size=opts.fixed_size)
        return [SendBytes(b"".join(records))]

    # --- receiving ------------------------------------------------------------

    def receive(self, data: bytes) -> list[Event]:
        """Feed bytes read from the connection.

        Raises a :class:`~gateway.errors.ProtocolError` when the connection must
        close (bad handshake, not a contact, corrupt stream); the link is then CLOSED.
        """
        if self.phase is Phase.CLOSED:
            raise SessionStateError("the link is closed")
        try:
            events: list[Event] = []
            for record in self._reader.feed(data):
                events += self._on_record(record)
            return events
        except ProtocolError:
            self.phase = Phase.CLOSED
            raise

    def _on_record(self, record: bytes) -> list[Event]:
        if self.phase is Phase.HANDSHAKE:
            message = self._assembler.feed(record)
            return [] if message is None else self._on_handshake(message)
        if self.phase is Phase.HELLO:
            return self._on_hello_record(record)
        return self._on_open_record(record)

    def _on_handshake(self, message: bytes) -> list[Event]:
        if self._initiator is not None:
            third = self._initiator.receive(message)
            result = self._initiator.result
            assert self.peer is not None and result is not None
            if result.remote_identity != self.peer.identity:
                raise HandshakeError("the responder's identity is not the contact's")
            events = self._handshake_out(third)
            return events + self._begin_hello(result)
        assert self._responder is not None
        reply = self._responder.receive(message)
        if isinstance(reply, bytes):
            return self._handshake_out(reply)
        self._begin_hello(reply)
        return []

    def _begin_hello(self, result: HandshakeResult) -> list[Event]:
        self._result = result
        self.remote_identity = result.remote_identity
        self._fresh = Session.from_handshake(result, self.session_options(result))
        self._reader.max_size = self._fresh.max_record_size
        self.phase = Phase.HELLO
        if self.role is Role.RESPONDER:
            return []
        assert self.peer is not None
        stored = self.store.load(result.remote_identity)
        hello = Hello(
            stored.session_id if stored else hello_msgs.NO_SESSION,
            stored.next_send_seq if stored else 0,
            stored.max_recv_seq if stored else 0,
            self.peer.pairing_secret,
            self.peer.client_auth,
            self.local.onion if self.peer.pairing_secret else "",
        )
        self.stored = stored
        return self._control_out(hello.encode())

    def session_options(self, result: HandshakeResult) -> SessionOptions:
        """This node's options, with the format the handshake agreed (the stronger offer)."""
        return self.local.options.with_offer(result.session_offer)

    @property
    def padding_mode(self) -> PaddingMode | None:
        """The open session's padding mode (None before the link opens)."""
        return None if self.session is None else self.session.options.padding_mode

    @property
    def remote_offer(self) -> Offer | None:
        """What the peer offered in the handshake (None before it)."""
        return None if self._result is None else self._result.remote_offer

    def _control_out(self, payload: bytes) -> list[Event]:
        assert self._fresh is not None
        records = self._fresh.seal(payload, _no_persist, frame_type=FrameType.CONTROL)
        return [SendBytes(b"".join(records))]

    def _open_control(self, record: bytes) -> bytes:
        assert self._fresh is not None
        events = self._fresh.open(record, _no_persist)
        if len(events) != 1 or not isinstance(events[0], ControlReceived):
            raise FrameError("expected a HELLO control frame")
        return events[0].payload

    def _on_hello_record(self, record: bytes) -> list[Event]:
        payload = self._open_control(record)
        assert self._result is not None
        if self.role is Role.RESPONDER:
            return self._answer_hello(hello_msgs.decode_hello(payload))
        return self._on_ack(hello_msgs.decode_ack(payload))

    def _answer_hello(self, hello: Hello) -> list[Event]:
        assert self._result is not None and self.gatekeeper is not None
        identity, static = self._result.remote_identity, self._result.remote_static
        if not self.gatekeeper.admit(identity, static, hello):
            raise HandshakeError("the peer is not a contact and presented no valid invite")
        stored = self.store.load(identity)
        resume = (
            stored is not None
            and hello.resume_id == stored.session_id
            and self._same_format(stored)
            and hello_msgs.may_resume(
                peer_next_send=hello.next_send_seq,
                peer_max_recv=hello.max_recv_seq,
                own_next_send=stored.next_send_seq,
                own_max_recv=stored.max_recv_seq,
            )
        )
        self._hello = hello
        if resume:
            assert stored is not None
            ack = HelloAck(Decision.RESUME, stored.next_send_seq, stored.max_recv_seq)
            events = self._control_out(ack.encode())
            self._resume(stored)
        else:
            ack = HelloAck(Decision.NEW, 1, 0)
            events = self._control_out(ack.encode())
            self._adopt_fresh()
        return [*events, self._opened(resume)]

    def _same_format(self, stored: StoredSession) -> bool:
        """Whether a stored session has the format agreed now (a level change makes a new one)."""
        assert self._fresh is not None
        try:
            old = Session.from_bytes(stored.blob).options
        except (SessionStateError, FrameError):
            return False
        new = self._fresh.options
        return (old.padding_mode, old.ratchet.header_encryption) == (
            new.padding_mode,
            new.ratchet.header_encryption,
        )

    def _on_ack(self, ack: HelloAck) -> list[Event]:
        assert self.peer is not None
        if ack.decision is Decision.RESUME:
            stored = self.stored
            if stored is None or not hello_msgs.may_resume(
                peer_next_send=ack.next_send_seq,
                peer_max_recv=ack.max_recv_seq,
                own_next_send=stored.next_send_seq,
                own_max_recv=stored.max_recv_seq,
            ):
                self.store.drop(self.peer.identity)
                raise HandshakeError("the peer resumed a session whose copies disagree")
            self._resume(stored)
            return [self._opened(True)]
        self._adopt_fresh()
        return [self._opened(False)]

    def _resume(self, stored: StoredSession) -> None:
        self.session = Session.from_bytes(stored.blob)
        self.stored = stored
        self._reader.max_size = self.session.max_record_size
        self._fresh = None

    def _adopt_fresh(self) -> None:
        assert self._fresh is not None and self._result is not None
        stored = StoredSession(self._result.handshake_hash, 1, 0, self._fresh.to_bytes())
        self.store.save(self._result.remote_identity, stored, [])
        self.session, self.stored, self._fresh = self._fresh, stored, None

    def _opened(self, resumed: bool) -> Opened:
        assert self._result is not None
        self.phase = Phase.OPEN
        return Opened(
            self._result.remote_identity, self._result.remote_static, resumed, self._hello
        )

    def _on_open_record(self, record: bytes) -> list[Event]:
        assert self.session is not None and self.stored is not None
        assert self.remote_identity is not None
        staged: list[bytes] = []
        try:
            events = self.session.open(record, lambda blob, _: staged.append(blob))
        except (DecryptError, ReplayError) as exc:
            return [Rejected(f"{type(exc).__name__}: {exc}")]
        except TooManySkippedError:
            self.store.drop(self.remote_identity)
            raise
        if not events:
            return []  # a fragment: the receive step need not be stored
        event = events[0]
        if isinstance(event, ControlReceived) or len(event.payload) < SEQ.size:
            return [Rejected("unexpected control frame or short payload")]
        (seq,) = SEQ.unpack_from(event.payload)
        if seq <= self.stored.max_recv_seq:
            return [Rejected(f"payload {seq} was already received")]
        # cover records are numbered too, so a peer restored from an old copy is
        # caught even if all it sent since was cover (it would reuse their keys)
        after = self.stored.advanced(staged[-1], received=seq)
        self.store.save(self.remote_identity, after, [], replaces=self.stored)
        self.stored = after
        if isinstance(event, CoverReceived):
            return []
        return [PayloadReceived(seq, event.payload[SEQ.size :])]

    # --- sending --------------------------------------------------------------

    def send(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> bytes:
        """The bytes carrying ``payload``, stored (with ``msg_ids`` marked sent) before returned."""
        return b"".join(self.send_records(payload, msg_ids))

    def send_records(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> list[bytes]:
        """The records carrying ``payload`` (several when it is fragmented), stored first."""
        session, stored, contact = self._open_state()
        seq = stored.next_send_seq
        after: list[StoredSession] = []

        def persist(blob: bytes, records: list[bytes]) -> None:
            after.append(stored.advanced(blob, sent=1))
            self.store.save(contact, after[0], records, msg_ids, replaces=stored)

        records = session.seal(SEQ.pack(seq) + payload, persist)
        self.stored = after[0]
        return records

    def dummy(self, record_size: int | None = None) -> bytes:
        """A cover record, the same form as real ones (numbered and stored first, like any)."""
        session, stored, contact = self._open_state()
        after: list[StoredSession] = []

        def persist(blob: bytes, records: list[bytes]) -> None:
            after.append(stored.advanced(blob, sent=1))
            self.store.save(contact, after[0], records, replaces=stored)

        record = session.dummy(persist, record_size, SEQ.pack(stored.next_send_seq))
        self.stored = after[0]
        return record

    def _open_state(self) -> tuple[Session, StoredSession, bytes]:
        if self.phase is not Phase.OPEN:
            raise SessionStateError(f"cannot send while the link is {self.phase.value}")
        assert self.session is not None and self.stored is not None
        assert self.remote_identity is not None
        return self.session, self.stored, self.remote_identity

    @property
    def can_send(self) -> bool:
        return self.phase is Phase.OPEN and self.session is not None and self.session.can_send

    def close(self) -> None:
        self.phase = Phase.CLOSED
