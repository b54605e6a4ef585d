"""The link connection state machine, two sides wired in memory."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.config.schema import PaddingMode
from gateway.errors import GatewayError, HandshakeError, ProtocolError, SessionStateError
from gateway.link.hello import Hello
from gateway.link.protocol import (
    Event,
    LinkConnection,
    LocalNode,
    Opened,
    PayloadReceived,
    Peer,
    Phase,
    Rejected,
    Role,
    SendBytes,
)
from gateway.link.records import PREFIX, RecordReader
from gateway.link.stored import StoredSession, check_successor
from gateway.session.padding import is_allowed_record_size
from gateway.session.ratchet import RatchetParams
from gateway.session.session import SessionOptions

ONION_A = "a" * 55 + "d"
ONION_B = "b" * 55 + "d"


def _raw(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass
class MemoryStore:
    sessions: dict[bytes, StoredSession] = field(default_factory=dict)
    journal: list[tuple[bytes, int, tuple[bytes, ...]]] = field(default_factory=list)

    def load(self, contact: bytes) -> StoredSession | None:
        return self.sessions.get(contact)

    def save(
        self,
        contact: bytes,
        stored: StoredSession,
        records: Sequence[bytes],
        msg_ids: Sequence[bytes] = (),
        *,
        replaces: StoredSession | None = None,
    ) -> None:
        if replaces is not None:
            current = self.sessions.get(contact)
            check_successor(None if current is None else current.encode(), replaces)
        self.sessions[contact] = stored
        self.journal.append((contact, len(records), tuple(msg_ids)))

    def drop(self, contact: bytes) -> None:
        self.sessions.pop(contact, None)


@dataclass
class Gate:
    contacts: set[bytes]
    secrets: set[bytes] = field(default_factory=set)
    pairing_open: bool = False

    def may_handshake(self, identity: bytes, static: bytes) -> bool:
        return identity in self.contacts or self.pairing_open

    def admit(self, identity: bytes, static: bytes, hello: Hello) -> bool:
        if identity in self.contacts:
            return True
        if hello.pairing_secret in self.secrets:
            self.secrets.discard(hello.pairing_secret)
            self.contacts.add(identity)
            return True
        return False


@dataclass
class Side:
    local: LocalNode
    store: MemoryStore = field(default_factory=MemoryStore)

    @property
    def identity(self) -> bytes:
        return _raw(self.local.identity)

    def peer(self, secret: bytes = b"") -> Peer:
        return Peer(self.identity, _raw(self.local.static), self.local.onion, secret)


def make_side(
    onion: str, mode: PaddingMode = PaddingMode.PADME_CELLS, he: bool = False, pq: bool = False
) -> Side:
    options = SessionOptions(mode, RatchetParams(header_encryption=he))
    local = LocalNode(Ed25519PrivateKey.generate(), X25519PrivateKey.generate(), onion, options, pq)
    return Side(local)


def pump(a: LinkConnection, b: LinkConnection, first: list[Event]) -> dict[int, list[Event]]:
    """Deliver SendBytes back and forth until quiet; return all other events per side."""
    seen: dict[int, list[Event]] = {id(a): [], id(b): []}
    pending = [(b, e.data) for e in first if isinstance(e, SendBytes)]
    while pending:
        target, data = pending.pop(0)
        other = a if target is b else b
        for event in target.receive(data):
            if isinstance(event, SendBytes):
                pending.append((other, event.data))
            else:
                seen[id(target)].append(event)
    return seen


def connect(
    alice: Side, bob: Side, gate: Gate, secret: bytes = b""
) -> tuple[LinkConnection, LinkConnection, dict[int, list[Event]]]:
    a = LinkConnection(alice.local, Role.INITIATOR, alice.store, peer=bob.peer(secret))
    b = LinkConnection(bob.local, Role.RESPONDER, bob.store, gatekeeper=gate)
    b.start()
    seen = pump(a, b, a.start())
    return a, b, seen


def deliver(sender: LinkConnection, receiver: LinkConnection, payload: bytes) -> list[Event]:
    return receiver.receive(sender.send(payload))


@pytest.fixture
def pair() -> tuple[Side, Side, Gate]:
    alice, bob = make_side(ONION_A), make_side(ONION_B)
    return alice, bob, Gate({alice.identity})


def test_contacts_open_a_link_and_exchange_payloads(pair: tuple[Side, Side, Gate]) -> None:
    alice, bob, gate = pair
    a, b, seen = connect(alice, bob, gate)
    assert a.phase is b.phase is Phase.OPEN
    opened = [e for e in seen[id(b)] if isinstance(e, Opened)]
    assert opened and opened[0].identity == alice.identity and not opened[0].resumed
    assert deliver(a, b, b"to bob") == [PayloadReceived(1, b"to bob")]
    assert deliver(b, a, b"to alice") == [PayloadReceived(1, b"to alice")]
    assert deliver(a, b, b"again") == [PayloadReceived(2, b"again")]
    assert (
        alice.store.sessions[bob.identity].session_id
        == bob.store.sessions[alice.identity].session_id
    )


def test_sending_stores_state_records_and_msg_ids_before_release(
    pair: tuple[Side, Side, Gate],
) -> None:
    alice, bob, gate = pair
    a, _, _ = connect(alice, bob, gate)
    before = alice.store.sessions[bob.identity]
    a.send(b"x", msg_ids=[b"\x01" * 16])
    contact, n_records, ids = alice.store.journal[-1]
    assert contact == bob.identity and n_records == 1 and ids == (b"\x01" * 16,)
    after = alice.store.sessions[bob.identity]
    assert after.next_send_seq == before.next_send_seq + 1 and after.blob != before.blob


def test_a_failing_store_releases_nothing(pair: tuple[Side, Side, Gate]) -> None:
    alice, bob, gate = pair
    a, b, _ = connect(alice, bob, gate)

    def broken(*_args: object, **_kw: object) -> None:
        raise GatewayError("disk full")

    alice.store.save = broken  # type: ignore[method-assign]
    with pytest.raises(GatewayError, match="disk full"):
        a.send(b"lost")
    del alice.store.save
    assert deliver(a, b, b"kept") == [PayloadReceived(1, b"kept")]


def test_reconnecting_resumes_the_stored_session(pair: tuple[Side, Side, Gate]) -> None:
    alice, bob, gate = pair
    a, b, _ = connect(alice, bob, gate)
    deliver(a, b, b"one")
    deliver(b, a, b"two")
    session_id = alice.store.sessions[bob.identity].session_id
    a2, b2, seen = connect(alice, bob, gate)
    assert [e.resumed for e in seen[id(b2)] if isinstance(e, Opened)] == [True]
    assert alice.store.sessions[bob.identity].session_id == session_id
    assert deliver(a2, b2, b"three") == [PayloadReceived(2, b"three")]
    assert deliver(b2, a2, b"four") == [PayloadReceived(2, b"four")]


def test_two_connections_resuming_one_session_never_seal_with_the_same_keys(
    pair: tuple[Side, Side, Gate],
) -> None:
    alice, bob, gate = pair
    a, b, _ = connect(alice, bob, gate)
    deliver(a, b, b"one")
    # a second connection resumes the session while the first is still up (both dialed)
    a2, b2, seen = connect(alice, bob, gate)
    assert [e.resumed for e in seen[id(b2)] if isinstance(e, Opened)] == [True]
    assert deliver(a, b, b"the first link goes on") == [
        PayloadReceived(2, b"the first link goes on")
    ]
    # the second copy is stale now: it would seal payload 2 with the first's message key
    stored, journaled = alice.store.sessions[bob.identity], len(alice.store.journal)
    with pytest.raises(SessionStateError, match="stale"):
        a2.send(b"same key twice")
    with pytest.raises(SessionStateError, match="stale"):
        a2.dummy()
    assert alice.store.sessions[bob.identity] == stored and len(alice.store.journal) == journaled
    # receiving is refused the same way: bob's second copy is behind his first
    with pytest.raises(SessionStateError, match="stale"):
        deliver(a, b2, b"three")
    # the copy in step with the stored record goes on
    assert deliver(b, a, b"back") == [PayloadReceived(1, b"back")]


def test_a_stored_record_of_another_session_does_not_stop_a_link(
    pair: tuple[Side, Side, Gate],
) -> None:
    alice, bob, gate = pair
    a, b, _ = connect(alice, bob, gate)
    other = StoredSession(b"\x07" * 32, 1, 0, b"a fresh session adopted by a losing connection")
    alice.store.sessions[bob.identity] = other
    assert deliver(a, b, b"on") == [PayloadReceived(1, b"on")]
    assert alice.store.sessions[bob.identity].session_id != other.session_id


def test_a_side_restored_from_an_old_copy_gets_a_fresh_session(
    pair: tuple[Side, Side, Gate],
) -> None:
    alice, bob, gate = pair
    a, b, _ = connect(alice, bob, gate)
    old_copy = dict(alice.store.sessions)
    for text in (b"one", b"two"):
        deliver(a, b, text)
    alice.store.sessions = dict(old_copy)  # alice restored from a backup: would reuse keys
    a2, b2, seen = connect(alice, bob, gate)
    assert [e.resumed for e in seen[id(b2)] if isinstance(e, Opened)] == [False]
    new_id = alice.store.sessions[bob.identity].session_id
    assert new_id != old_copy[bob.identity].session_id
    assert new_id == bob.store.sessions[alice.identity].session_id
    assert deliver(a2, b2, b"after") == [PayloadReceived(1, b"after")]


def test_a_lost_store_on_one_side_re_handshakes(pair: tuple[Side, Side, Gate]) -> None:
    alice, bob, gate = pair
    a, b, _ = connect(alice, bob, gate)
    deliver(a, b, b"one")
    bob.store.sessions.clear()
    a2, b2, seen = connect(alice, bob, gate)
    assert [e.resumed for e in seen[id(b2)] if isinstance(e, Opened)] == [False]
    assert deliver(a2, b2, b"two") == [PayloadReceived(1, b"two")]


def test_non_contact_is_cut_off_before_any_data() -> None:
    alice, bob = make_side(ONION_A), make_side(ONION_B)
    with pytest.raises(HandshakeError):
        connect(alice, bob, Gate(set()))
    assert alice.identity not in bob.store.sessions


def test_unknown_peer_without_a_valid_secret_is_refused_after_hello() -> None:
    alice, bob = make_side(ONION_A), make_side(ONION_B)
    gate = Gate(set(), secrets={b"s" * 16}, pairing_open=True)
    with pytest.raises(HandshakeError, match="not a contact"):
        connect(alice, bob, gate, secret=b"wrong" * 4)
    assert alice.identity not in bob.store.sessions


def test_a_valid_invite_secret_pairs_on_first_connection() -> None:
    alice, bob = make_side(ONION_A), make_side(ONION_B)
    gate = Gate(set(), secrets={b"s" * 16}, pairing_open=True)
    a, b, seen = connect(alice, bob, gate, secret=b"s" * 16)
    opened = [e for e in seen[id(b)] if isinstance(e, Opened)]
    assert opened[0].hello is not None and opened[0].hello.pairing_secret == b"s" * 16
    assert alice.identity in gate.contacts
    assert deliver(a, b, b"hi") == [PayloadReceived(1, b"hi")]
    with pytest.raises(HandshakeError):  # the secret is single-use
        connect(make_side(ONION_A), bob, gate, secret=b"s" * 16)


def test_wrong_responder_identity_is_refused(pair: tuple[Side, Side, Gate]) -> None:
    alice, bob, gate = pair
    impostor = make_side(ONION_B)
    a = LinkConnection(
        alice.local,
        Role.INITIATOR,
        alice.store,
        peer=Peer(impostor.identity, _raw(bob.local.static), ONION_B),
    )
    b = LinkConnection(bob.local, Role.RESPONDER, bob.store, gatekeeper=gate)
    b.start()
    with pytest.raises(HandshakeError):
        pump(a, b, a.start())


def test_tampered_and_replayed_records_are_dropped_and_the_link_stays_up(
    pair: tuple[Side, Side, Gate],
) -> None:
    alice, bob, gate = pair
    a, b, _ = connect(alice, bob, gate)
    record = a.send(b"original")
    tampered = bytearray(record)
    tampered[len(tampered) // 2] ^= 0x40
    assert [type(e) for e in b.receive(bytes(tampered))] == [Rejected]
    assert b.receive(record) == [PayloadReceived(1, b"original")]
    assert [type(e) for e in b.receive(record)] == [Rejected]
    assert deliver(a, b, b"next") == [PayloadReceived(2, b"next")]


def test_dummies_are_consumed_silently(pair: tuple[Side, Side, Gate]) -> None:
    alice, bob, gate = pair
    a, b, _ = connect(alice, bob, gate)
    dummy = a.dummy()
    real = a.send(b"real")
    assert len(dummy) == len(real)
    assert b.receive(dummy) == []
    assert bob.store.sessions[alice.identity].max_recv_seq == 1  # cover is numbered too
    assert b.receive(real) == [PayloadReceived(2, b"real")]


def test_a_copy_restored_after_sending_only_cover_is_caught(
    pair: tuple[Side, Side, Gate],
) -> None:
    alice, bob, gate = pair
    a, b, _ = connect(alice, bob, gate)
    old_copy = dict(alice.store.sessions)
    for _ in range(3):
        b.receive(a.dummy())  # only cover since the copy was taken
    alice.store.sessions = dict(old_copy)  # resuming would reuse the dummies' keys
    _, b2, seen = connect(alice, bob, gate)
    assert [e.resumed for e in seen[id(b2)] if isinstance(e, Opened)] == [False]


@pytest.mark.parametrize(
    ("mode", "he"),
    [(PaddingMode.PADME_CELLS, False), (PaddingMode.BUCKETS, True), (PaddingMode.FIXED, True)],
)
def test_every_record_on_the_wire_has_an_allowed_size(mode: PaddingMode, he: bool) -> None:
    alice, bob = make_side(ONION_A, mode, he), make_side(ONION_B, mode, he)
    gate = Gate({alice.identity})
    wire: list[bytes] = []
    a = LinkConnection(alice.local, Role.INITIATOR, alice.store, peer=bob.peer())
    b = LinkConnection(bob.local, Role.RESPONDER, bob.store, gatekeeper=gate)
    b.start()
    first = a.start()
    pending = [(b, e.data) for e in first if isinstance(e, SendBytes)]
    while pending:
        target, data = pending.pop(0)
        wire.append(data)
        other = a if target is b else b
        pending += [(other, e.data) for e in target.receive(data) if isinstance(e, SendBytes)]
    rng = random.Random(7)
    for size in (0, 10, 500, 3000, 40000):
        wire.append(a.send(rng.randbytes(size)))
    wire.append(a.dummy())
    reader = RecordReader(1 << 22)
    records = [r for chunk in wire for r in reader.feed(chunk)]
    assert reader.buffered == 0 and len(records) >= 9
    for record in records:
        assert is_allowed_record_size(mode, len(record)), (mode, len(record))
        (length,) = PREFIX.unpack_from(record)
        assert length == len(record) - PREFIX.size


LEVELS = {
    "standard": (PaddingMode.PADME_CELLS, False, False),
    "high": (PaddingMode.BUCKETS, True, False),
    "paranoid": (PaddingMode.FIXED, True, True),
}


@pytest.mark.parametrize("initiator", list(LEVELS))
@pytest.mark.parametrize("responder", list(LEVELS))
def test_nodes_of_any_two_levels_link_at_the_stronger_level(initiator: str, responder: str) -> None:
    """Each side offers its level's format; both open the session at the stronger one, and
    every record either sends has a size that format allows."""
    alice, bob = make_side(ONION_A, *LEVELS[initiator]), make_side(ONION_B, *LEVELS[responder])
    gate = Gate({alice.identity})
    peer = bob.peer()
    if LEVELS[responder][2]:  # the invite (or an earlier handshake) said: post-quantum
        peer = Peer(peer.identity, peer.static, peer.onion, post_quantum=True)
    a = LinkConnection(alice.local, Role.INITIATOR, alice.store, peer=peer)
    b = LinkConnection(bob.local, Role.RESPONDER, bob.store, gatekeeper=gate)
    b.start()
    pump(a, b, a.start())
    names = list(LEVELS)
    mode, he, _ = LEVELS[names[max(names.index(initiator), names.index(responder))]]
    for conn in (a, b):
        assert conn.phase is Phase.OPEN and conn.session is not None
        assert conn.session.options.padding_mode is mode == conn.padding_mode
        assert conn.session.options.ratchet.header_encryption is he
    assert a.remote_offer is not None and a.remote_offer.padding_mode is LEVELS[responder][0]
    assert b.remote_offer is not None and b.remote_offer.padding_mode is LEVELS[initiator][0]
    for size in (5, 3000):
        payload = random.Random(size).randbytes(size)
        wire = a.send(payload)
        records = RecordReader(1 << 22).feed(wire)
        assert all(is_allowed_record_size(mode, len(r)) for r in records)
        for receiver, data in ((b, wire), (a, b.send(payload))):
            (event,) = receiver.receive(data)
            assert isinstance(event, PayloadReceived) and event.data == payload


def test_a_classic_initiator_is_refused_by_a_paranoid_responder_it_did_not_know() -> None:
    """Without the invite's word (or an earlier handshake), a standard node dialing a paranoid
    one offers no post-quantum step and is refused; the paranoid side's own dial works."""
    alice, bob = make_side(ONION_A), make_side(ONION_B, *LEVELS["paranoid"])
    with pytest.raises(HandshakeError, match="post-quantum mismatch"):
        connect(alice, bob, Gate({alice.identity}))
    b, a, _ = connect(bob, alice, Gate({bob.identity}))
    assert a.phase is b.phase is Phase.OPEN


def test_a_stored_session_of_another_format_is_not_resumed(pair: tuple[Side, Side, Gate]) -> None:
    """Bob changed level: the stored (padme) session is replaced by a new one in his format."""
    alice, bob, gate = pair
    connect(alice, bob, gate)
    bob.local = LocalNode(
        bob.local.identity, bob.local.static, ONION_B, SessionOptions(PaddingMode.BUCKETS), False
    )
    a, b, seen = connect(alice, bob, gate)
    assert [e.resumed for e in seen[id(b)] if isinstance(e, Opened)] == [False]
    assert a.padding_mode is b.padding_mode is PaddingMode.BUCKETS
    assert deliver(a, b, b"hi") == [PayloadReceived(1, b"hi")]


def test_garbage_to_a_responder_raises_only_protocol_errors() -> None:
    bob = make_side(ONION_B)
    rng = random.Random(1)
    for _ in range(300):
        b = LinkConnection(bob.local, Role.RESPONDER, bob.store, gatekeeper=Gate(set()))
        b.start()
        size = rng.choice([4, 100, 498, 996, 2000])
        data = rng.randbytes(size)
        if rng.random() < 0.5:
            data = PREFIX.pack(size - 4) + data[4:]
        try:
            b.receive(data)
        except ProtocolError:
            assert b.phase is Phase.CLOSED
