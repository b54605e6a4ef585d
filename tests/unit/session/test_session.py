"""Session: seal/open across padding modes, persist-before-release, state blobs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config.levels import POLICIES
from gateway.config.schema import PaddingMode
from gateway.errors import (
    DecryptError,
    FrameError,
    ProtocolError,
    ReplayError,
    SessionStateError,
    StateError,
    VersionError,
)
from gateway.session.frames import FrameType
from gateway.session.ratchet import RatchetParams
from gateway.session.session import (
    ControlReceived,
    CoverReceived,
    DataReceived,
    Session,
    SessionOptions,
)
from tests.unit.session.test_handshake_helpers import ALICE, BOB, run


class Store:
    """A fake persister that records what it stored, and can be told to fail."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.records: list[list[bytes]] = []
        self.fail = False

    def __call__(self, blob: bytes, records: list[bytes]) -> None:
        if self.fail:
            raise StateError("disk full")
        self.blobs.append(blob)
        self.records.append(records)


def sessions(mode: PaddingMode, he: bool, pq: bool = False) -> tuple[Session, Session]:
    a, b = run(pq)
    options = SessionOptions(mode, RatchetParams(header_encryption=he))
    return Session.from_handshake(a, options), Session.from_handshake(b, options)


def deliver(receiver: Session, records: list[bytes], store: Store) -> list[object]:
    return [event for record in records for event in receiver.open(record, store)]


MODES = [(mode, he) for mode in PaddingMode for he in (False, True)]


@pytest.mark.parametrize(("mode", "he"), MODES)
def test_round_trip_both_ways(mode: PaddingMode, he: bool) -> None:
    alice, bob = sessions(mode, he)
    store = Store()
    big = bytes(range(256)) * 40
    records = alice.seal(big, store)
    assert store.records[-1] == records and store.blobs[-1] == alice.to_bytes()
    assert deliver(bob, records, store) == [DataReceived(big)]
    back = bob.seal(b"pong", store, frame_type=FrameType.CONTROL)
    assert deliver(alice, back, store) == [ControlReceived(b"pong")]
    assert alice.remote_identity == BOB.identity_public
    assert bob.remote_identity == ALICE.identity_public
    assert all(len(r) <= alice.max_record_size for r in records)


@pytest.mark.parametrize(("mode", "he"), MODES)
def test_dummy_looks_like_a_small_record_and_is_consumed(mode: PaddingMode, he: bool) -> None:
    alice, bob = sessions(mode, he)
    store = Store()
    dummy = alice.dummy(store)
    (small,) = alice.seal(b"x", store)
    assert len(dummy) == len(small)
    assert dummy[:4] == small[:4]  # same length prefix
    assert bob.open(dummy, store) == [CoverReceived(b"")]
    assert bob.open(alice.dummy(store, payload=b"seq"), store) == [CoverReceived(b"seq")]
    assert bob.open(small, store) == [DataReceived(b"x")]


def test_responder_cannot_send_first() -> None:
    _, bob = sessions(PaddingMode.BUCKETS, False)
    assert not bob.can_send
    with pytest.raises(SessionStateError):
        bob.seal(b"hi", Store())


def test_failing_persist_on_seal_releases_nothing_and_changes_nothing() -> None:
    alice, bob = sessions(PaddingMode.FIXED, True)
    store = Store()
    before = alice.to_bytes()
    store.fail = True
    with pytest.raises(StateError):
        alice.seal(b"secret" * 500, store)
    assert alice.to_bytes() == before and store.records == []
    store.fail = False
    records = alice.seal(b"again", store)
    assert deliver(bob, records, store) == [DataReceived(b"again")]


def test_failing_persist_on_open_changes_nothing() -> None:
    alice, bob = sessions(PaddingMode.PADME_CELLS, False)
    store = Store()
    (record,) = alice.seal(b"hello", store)
    before = bob.to_bytes()
    store.fail = True
    with pytest.raises(StateError):
        bob.open(record, store)
    assert bob.to_bytes() == before
    store.fail = False
    assert bob.open(record, store) == [DataReceived(b"hello")]


def test_tampered_replayed_and_malformed_records() -> None:
    alice, bob = sessions(PaddingMode.BUCKETS, True)
    store = Store()
    (record,) = alice.seal(b"hello", store)
    before = bob.to_bytes()
    for index in (4, 20, 100, len(record) - 1):
        bad = bytearray(record)
        bad[index] ^= 0x40
        with pytest.raises(DecryptError):
            bob.open(bytes(bad), store)
    for bad in (record[:3], record[:-1], b"\x00\x00\x00\x05hello", record + b"\x00"):
        with pytest.raises(FrameError):
            bob.open(bad, store)
    assert bob.to_bytes() == before
    assert bob.open(record, store) == [DataReceived(b"hello")]
    with pytest.raises(ReplayError):
        bob.open(record, store)


def test_out_of_order_records() -> None:
    alice, bob = sessions(PaddingMode.BUCKETS, False)
    store = Store()
    first = alice.seal(b"one", store)
    second = alice.seal(b"two", store)
    assert deliver(bob, second, store) == [DataReceived(b"two")]
    assert deliver(bob, first, store) == [DataReceived(b"one")]


def test_state_survives_a_restart_between_fragments() -> None:
    alice, bob = sessions(PaddingMode.FIXED, True)
    store = Store()
    payload = bytes(range(256)) * 10
    records = alice.seal(payload, store)
    assert len(records) > 2
    assert bob.open(records[0], store) == []
    assert bob.open(alice.dummy(store), store) == [CoverReceived(b"")]
    restored = Session.from_bytes(store.blobs[-1])
    assert restored.to_bytes() == bob.to_bytes()
    assert deliver(restored, records[1:], store) == [DataReceived(payload)]
    alice2 = Session.from_bytes(alice.to_bytes())
    assert deliver(restored, alice2.seal(b"after", store), store) == [DataReceived(b"after")]


def test_state_blob_errors() -> None:
    alice, _ = sessions(PaddingMode.BUCKETS, False, pq=True)
    blob = alice.to_bytes()
    with pytest.raises(VersionError):
        Session.from_bytes(b"\x02" + blob[1:])
    with pytest.raises(SessionStateError):
        Session.from_bytes(b"")
    for cut in (1, 10, 50, len(blob) - 1):
        with pytest.raises(SessionStateError):
            Session.from_bytes(blob[:cut])
    with pytest.raises(SessionStateError):
        Session.from_bytes(blob + b"\x00")
    restored = Session.from_bytes(blob)
    assert restored.peer == alice.peer and restored.options == alice.options


OPS = st.lists(
    st.tuples(st.booleans(), st.binary(max_size=3000), st.booleans()),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None)
@given(ops=OPS, mode=st.sampled_from(list(PaddingMode)), he=st.booleans())
def test_seal_open_with_failing_persists(
    ops: list[tuple[bool, bytes, bool]], mode: PaddingMode, he: bool
) -> None:
    alice, bob = sessions(mode, he)
    store = Store()
    for from_alice, payload, fail in ops:
        # the responder may send only once it has received something
        sender, receiver = (alice, bob) if from_alice or not bob.can_send else (bob, alice)
        before = sender.to_bytes()
        store.fail = fail
        if fail:
            with pytest.raises(StateError):
                sender.seal(payload, store)
            assert sender.to_bytes() == before
            continue
        records = sender.seal(payload, store)
        assert store.records[-1] == records
        assert deliver(receiver, records, store) == [DataReceived(payload)]


def test_options_from_each_level_policy() -> None:
    for level, policy in POLICIES.items():
        options = SessionOptions.from_policy(policy)
        assert options.padding_mode is policy.padding_mode
        assert options.ratchet.header_encryption is policy.header_encryption, level


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(min_size=0, max_size=1100), flip=st.integers(0, 995))
def test_garbage_records_raise_only_typed_errors(garbage: bytes, flip: int) -> None:
    _, bob = FUZZ_PAIR
    before = bob.to_bytes()
    with pytest.raises(ProtocolError):
        bob.open(garbage, Store())
    record = bytearray(FUZZ_RECORD)
    record[flip] ^= 0x01
    with pytest.raises(ProtocolError):
        bob.open(bytes(record), Store())
    assert bob.to_bytes() == before


FUZZ_PAIR = sessions(PaddingMode.FIXED, True)
(FUZZ_RECORD,) = FUZZ_PAIR[0].seal(b"fuzz", Store())
