"""The Double Ratchet: round trips, DH steps, header encryption, limits, serialization."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable

import pytest
from nacl.bindings import crypto_scalarmult_base

from gateway.errors import (
    DecryptError,
    ReplayError,
    SessionStateError,
    TooManySkippedError,
    VersionError,
)
from gateway.session.header import ENCRYPTED_HEADER_SIZE, HEADER_SIZE
from gateway.session.ratchet import STATE_VERSION, RatchetParams, RatchetState

AD = b"session associated data"
SK = bytes(range(32))
BOB_PRIV = bytes(range(100, 132))
HKA, NHKB = bytes(range(1, 33)), bytes(range(2, 34))


def det_rng(seed: bytes) -> Callable[[int], bytes]:
    counter = itertools.count()

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + next(counter).to_bytes(8, "big")).digest()
        return out[:n]

    return rng


def make_pair(
    he: bool = False, params: RatchetParams | None = None, seed: bytes = b"s"
) -> tuple[RatchetState, RatchetState]:
    p = params or RatchetParams(header_encryption=he)
    hka, nhkb = (HKA, NHKB) if p.header_encryption else (None, None)
    bob_pub = bytes(crypto_scalarmult_base(BOB_PRIV))
    alice = RatchetState.init_initiator(
        SK, bob_pub, p, shared_hka=hka, shared_nhkb=nhkb, rng=det_rng(b"a" + seed)
    )
    bob = RatchetState.init_responder(
        SK, BOB_PRIV, p, shared_hka=hka, shared_nhkb=nhkb, rng=det_rng(b"b" + seed)
    )
    return alice, bob


def send(st: RatchetState, text: bytes) -> tuple[RatchetState, bytes]:
    return st.encrypt(text, AD)


def recv(st: RatchetState, msg: bytes) -> tuple[RatchetState, bytes]:
    return st.decrypt(msg, AD)


both_modes = pytest.mark.parametrize("he", [False, True], ids=["clear", "header-enc"])


@both_modes
def test_round_trips_both_ways_with_dh_steps(he: bool) -> None:
    alice, bob = make_pair(he)
    keys_seen: set[bytes] = set()
    for rnd in range(4):
        for i in range(3):
            alice, msg = send(alice, b"a%d-%d" % (rnd, i))
            bob, pt = recv(bob, msg)
            assert pt == b"a%d-%d" % (rnd, i)
        bob, msg = send(bob, b"b%d" % rnd)
        alice, pt = recv(alice, msg)
        assert pt == b"b%d" % rnd
        keys_seen.update((alice.ratchet_public, bob.ratchet_public))
    assert len(keys_seen) >= 7  # new ratchet keys on each turn


@both_modes
def test_message_size_is_plaintext_plus_overhead(he: bool) -> None:
    alice, _ = make_pair(he)
    params = alice.params
    for size in (0, 1, 100, 5000):
        alice, msg = send(alice, bytes(size))
        assert len(msg) == size + RatchetState.overhead(params)
    assert RatchetState.overhead(params) == (ENCRYPTED_HEADER_SIZE if he else HEADER_SIZE) + 16


def test_header_encryption_hides_ratchet_key_and_counters() -> None:
    alice, _ = make_pair(he=True)
    alice, m1 = send(alice, b"x")
    alice, m2 = send(alice, b"x")
    assert alice.ratchet_public not in m1
    assert m1[:ENCRYPTED_HEADER_SIZE] != m2[:ENCRYPTED_HEADER_SIZE]
    clear, _ = make_pair(he=False)
    clear, c1 = send(clear, b"x")
    assert c1[:32] == clear.ratchet_public


@both_modes
def test_encrypt_and_decrypt_leave_self_unchanged(he: bool) -> None:
    alice, bob = make_pair(he)
    before_a, before_b = alice.to_bytes(), bob.to_bytes()
    new_alice, msg = send(alice, b"x")
    new_bob, _ = recv(bob, msg)
    assert alice.to_bytes() == before_a and bob.to_bytes() == before_b
    assert new_alice.to_bytes() != before_a and new_bob.to_bytes() != before_b


@both_modes
def test_responder_cannot_send_first(he: bool) -> None:
    alice, bob = make_pair(he)
    assert alice.can_send and not bob.can_send
    with pytest.raises(SessionStateError):
        send(bob, b"too early")
    alice, msg = send(alice, b"hi")
    bob, _ = recv(bob, msg)
    assert bob.can_send


@both_modes
def test_out_of_order_within_and_across_chains(he: bool) -> None:
    alice, bob = make_pair(he)
    msgs = []
    for i in range(5):
        alice, m = send(alice, b"first-%d" % i)
        msgs.append((m, b"first-%d" % i))
    bob, pt = recv(bob, msgs[4][0])
    assert pt == b"first-4"
    assert bob.skipped_count == 4
    bob, reply = send(bob, b"reply")
    alice, _ = recv(alice, reply)
    alice, m_new = send(alice, b"second")  # new chain; pn = 5
    bob, pt = recv(bob, m_new)
    assert pt == b"second"
    for m, text in (msgs[2], msgs[0], msgs[3], msgs[1]):
        bob, pt = recv(bob, m)
        assert pt == text
    assert bob.skipped_count == 0


@both_modes
def test_lost_tail_of_previous_chain_is_skipped_by_pn(he: bool) -> None:
    alice, bob = make_pair(he)
    alice, m0 = send(alice, b"0")
    bob, _ = recv(bob, m0)
    alice, lost = send(alice, b"lost")  # never delivered on time
    bob, r = send(bob, b"r")
    alice, _ = recv(alice, r)
    alice, m_next = send(alice, b"next")
    bob, pt = recv(bob, m_next)
    assert pt == b"next" and bob.skipped_count == 1
    bob, pt = recv(bob, lost)
    assert pt == b"lost" and bob.skipped_count == 0


@both_modes
def test_duplicates_are_replay_errors_in_current_and_old_chains(he: bool) -> None:
    alice, bob = make_pair(he)
    alice, m1 = send(alice, b"1")
    alice, m2 = send(alice, b"2")
    bob, _ = recv(bob, m1)
    bob, _ = recv(bob, m2)
    for dup in (m1, m2):
        with pytest.raises(ReplayError):
            recv(bob, dup)
    bob, r = send(bob, b"r")
    alice, _ = recv(alice, r)
    alice, m3 = send(alice, b"3")
    bob, _ = recv(bob, m3)  # m1, m2 now belong to a retired chain
    for dup in (m1, m2, m3):
        with pytest.raises(ReplayError):
            recv(bob, dup)
    with pytest.raises(ReplayError):
        recv(alice, r)


@both_modes
def test_skipped_key_used_once(he: bool) -> None:
    alice, bob = make_pair(he)
    alice, m1 = send(alice, b"1")
    alice, m2 = send(alice, b"2")
    bob, _ = recv(bob, m2)
    bob, _ = recv(bob, m1)
    with pytest.raises(ReplayError):
        recv(bob, m1)


@both_modes
def test_every_bit_flip_is_rejected_without_state_change(he: bool) -> None:
    alice, bob = make_pair(he)
    alice, m0 = send(alice, b"warm up")
    bob, _ = recv(bob, m0)
    alice, msg = send(alice, b"payload")
    before = bob.to_bytes()
    for i in range(len(msg)):
        for bit in (0x01, 0x80):
            bad = bytearray(msg)
            bad[i] ^= bit
            with pytest.raises((DecryptError, ReplayError, TooManySkippedError)):
                recv(bob, bytes(bad))
    assert bob.to_bytes() == before
    bob, pt = recv(bob, msg)
    assert pt == b"payload"


@both_modes
def test_wrong_ad_truncation_and_garbage(he: bool) -> None:
    alice, bob = make_pair(he)
    alice, msg = send(alice, b"x")
    with pytest.raises(DecryptError):
        bob.decrypt(msg, b"other ad")
    for bad in (b"", msg[:10], msg[: RatchetState.overhead(bob.params) - 1]):
        with pytest.raises(DecryptError):
            recv(bob, bad)
    bob, pt = recv(bob, msg)
    assert pt == b"x"


def test_low_order_ratchet_key_in_header_is_decrypt_error() -> None:
    alice, bob = make_pair()
    alice, msg = send(alice, b"x")
    forged = bytes(32) + msg[32:]
    with pytest.raises(DecryptError):
        recv(bob, forged)


def test_message_skipping_more_than_max_skip_is_rejected() -> None:
    params = RatchetParams(max_skip=3, max_skipped_total=10)
    alice, bob = make_pair(params=params)
    msgs = []
    for i in range(6):
        alice, m = send(alice, b"%d" % i)
        msgs.append(m)
    before = bob.to_bytes()
    with pytest.raises(TooManySkippedError):
        recv(bob, msgs[4])  # would skip 4 > 3
    assert bob.to_bytes() == before
    bob, pt = recv(bob, msgs[3])  # skips exactly 3
    assert pt == b"3" and bob.skipped_count == 3
    bob, pt = recv(bob, msgs[5])
    assert pt == b"5"


def test_previous_chain_gap_beyond_max_skip_is_rejected() -> None:
    params = RatchetParams(max_skip=2, max_skipped_total=10)
    alice, bob = make_pair(params=params)
    alice, m0 = send(alice, b"0")
    bob, _ = recv(bob, m0)
    bob, r = send(bob, b"r")
    for i in range(3):
        alice, _ = send(alice, b"lost %d" % i)
    alice, _ = recv(alice, r)
    alice, m_new = send(alice, b"new")  # pn = 4, bob has nr = 1: 3 to skip
    before = bob.to_bytes()
    with pytest.raises(TooManySkippedError):
        recv(bob, m_new)
    assert bob.to_bytes() == before


def test_total_cap_of_skipped_keys() -> None:
    params = RatchetParams(max_skip=5, max_skipped_total=6)
    alice, bob = make_pair(params=params)
    msgs = []
    for i in range(12):
        alice, m = send(alice, b"%d" % i)
        msgs.append(m)
    bob, _ = recv(bob, msgs[5])  # 5 stored
    before = bob.to_bytes()
    with pytest.raises(TooManySkippedError):
        recv(bob, msgs[8])  # 2 more would make 7 > 6
    assert bob.to_bytes() == before
    bob, _ = recv(bob, msgs[7])  # 1 more: 6
    assert bob.skipped_count == 6
    bob, _ = recv(bob, msgs[0])
    bob, _ = recv(bob, msgs[9])  # 5 + 1 = 6 again
    assert bob.skipped_count == 6


@both_modes
def test_skipped_keys_expire_after_max_skipped_age_steps(he: bool) -> None:
    params = RatchetParams(max_skipped_age=2, header_encryption=he)
    alice, bob = make_pair(params=params)
    alice, late = send(alice, b"late")
    alice, m = send(alice, b"on time")
    bob, _ = recv(bob, m)
    assert bob.skipped_count == 1
    steps = 0
    while bob.skipped_count:
        bob, r = send(bob, b"r")
        alice, _ = recv(alice, r)
        alice, m = send(alice, b"m")
        bob, _ = recv(bob, m)
        steps += 1
        assert steps <= 3
    assert steps == 3  # kept for age 1 and 2, deleted when 3 steps old
    with pytest.raises(DecryptError):  # docs/PROTOCOL.md section 4: the chain is forgotten
        recv(bob, late)


@both_modes
def test_a_replay_is_a_replay_error_while_its_chain_is_known_then_a_decrypt_error(
    he: bool,
) -> None:
    """docs/PROTOCOL.md section 4: retired chain ids are kept exactly as long as skipped
    keys (``max_skipped_age`` receiving DH steps); a used key of a known chain is a
    ReplayError, of a forgotten chain a DecryptError. A skipped key opens until then."""
    params = RatchetParams(max_skipped_age=5, header_encryption=he)
    alice, bob = make_pair(params=params)
    alice, used = send(alice, b"used")
    alice, skipped = send(alice, b"skipped until step 5")
    alice, third = send(alice, b"third")
    bob, _ = recv(bob, used)
    bob, _ = recv(bob, third)
    for step in range(1, 7):
        bob, r = send(bob, b"r")
        alice, _ = recv(alice, r)
        alice, m = send(alice, b"m")
        bob, _ = recv(bob, m)
        if step <= 5:
            with pytest.raises(ReplayError):
                recv(bob, used)
            assert recv(bob, skipped)[1] == b"skipped until step 5"  # state not kept
        else:
            for message in (used, skipped):
                with pytest.raises(DecryptError):
                    recv(bob, message)


@both_modes
def test_serialization_round_trip_mid_conversation(he: bool) -> None:
    alice, bob = make_pair(he)
    alice, m1 = send(alice, b"1")
    alice, m2 = send(alice, b"2")
    bob, _ = recv(bob, m2)  # one skipped key
    bob, r = send(bob, b"r")
    blob_a, blob_b = alice.to_bytes(), bob.to_bytes()
    assert blob_a[0] == blob_b[0] == STATE_VERSION
    alice2 = RatchetState.from_bytes(blob_a, rng=det_rng(b"x"))
    bob2 = RatchetState.from_bytes(blob_b, rng=det_rng(b"y"))
    assert alice2.to_bytes() == blob_a and bob2.to_bytes() == blob_b
    assert alice2.params == alice.params
    bob2, pt = recv(bob2, m1)
    assert pt == b"1"
    alice2, pt = recv(alice2, r)
    assert pt == b"r"
    alice2, m3 = send(alice2, b"3")
    bob2, pt = recv(bob2, m3)
    assert pt == b"3"


def test_restored_state_with_same_rng_produces_the_same_messages() -> None:
    alice, bob = make_pair()
    alice, m = send(alice, b"x")
    bob, _ = recv(bob, m)
    restored = RatchetState.from_bytes(bob.to_bytes(), rng=det_rng(b"same"))
    original = bob.with_rng(det_rng(b"same"))
    assert send(restored, b"y")[1] == send(original, b"y")[1]


def test_transcripts_are_deterministic_with_injected_randomness() -> None:
    def transcript() -> list[bytes]:
        alice, bob = make_pair(he=True, seed=b"fixed")
        out = []
        for i in range(3):
            alice, m = send(alice, b"%d" % i)
            bob, _ = recv(bob, m)
            bob, r = send(bob, b"r%d" % i)
            alice, _ = recv(alice, r)
            out += [m, r]
        return out

    assert transcript() == transcript()


def test_next_dh_private_is_used_for_the_next_ratchet_key() -> None:
    alice, bob = make_pair()
    alice, m = send(alice, b"x")
    bob, _ = recv(bob, m)
    priv = bytes(range(7, 39))
    bob = bob.with_next_dh_private(priv)
    bob, r = send(bob, b"y")
    assert bob.ratchet_public == bytes(crypto_scalarmult_base(priv)) == r[:32]
    first = RatchetState.init_initiator(
        SK, bob.ratchet_public, RatchetParams(), ratchet_private=priv
    )
    assert first.ratchet_public == bytes(crypto_scalarmult_base(priv))


def test_version_and_malformed_blobs() -> None:
    alice, bob = make_pair(he=True)
    alice, m = send(alice, b"x")
    bob, _ = recv(bob, m)
    blob = bob.to_bytes()
    with pytest.raises(VersionError):
        RatchetState.from_bytes(bytes([STATE_VERSION + 1]) + blob[1:])
    with pytest.raises(VersionError):
        RatchetState.from_bytes(b"\x00" + blob[1:])
    for bad in (b"", blob[:-1], blob + b"\x00", blob[:20]):
        with pytest.raises(SessionStateError):
            RatchetState.from_bytes(bad)
    bad_flags = bytearray(blob)
    bad_flags[1] |= 0x80
    with pytest.raises(SessionStateError):
        RatchetState.from_bytes(bytes(bad_flags))
    no_he = bytearray(blob)
    no_he[1] &= ~0x01
    with pytest.raises(SessionStateError):
        RatchetState.from_bytes(bytes(no_he))


def test_every_truncation_of_a_blob_is_a_typed_error() -> None:
    alice, bob = make_pair()
    alice, _ = send(alice, b"1")
    alice, m2 = send(alice, b"2")
    bob, _ = recv(bob, m2)
    blob = bob.to_bytes()
    for cut in range(len(blob)):
        with pytest.raises((SessionStateError, VersionError)):
            RatchetState.from_bytes(blob[:cut])


def test_initialization_errors() -> None:
    pub = bytes(crypto_scalarmult_base(BOB_PRIV))
    with pytest.raises(SessionStateError):
        RatchetState.init_initiator(SK[:31], pub, RatchetParams())
    with pytest.raises(SessionStateError):
        RatchetState.init_initiator(SK, pub[:31], RatchetParams())
    with pytest.raises(SessionStateError):
        RatchetState.init_initiator(SK, bytes(32), RatchetParams())  # low-order point
    with pytest.raises(SessionStateError):
        RatchetState.init_responder(SK, b"short", RatchetParams())
    with pytest.raises(SessionStateError):
        RatchetState.init_initiator(SK, pub, RatchetParams(header_encryption=True))
    with pytest.raises(SessionStateError):
        RatchetState.init_responder(
            SK, BOB_PRIV, RatchetParams(header_encryption=True), shared_hka=HKA
        )
    with pytest.raises(SessionStateError):
        RatchetParams(max_skip=-1)


def test_mismatched_header_encryption_settings_do_not_interoperate() -> None:
    alice, _ = make_pair(he=True)
    _, bob = make_pair(he=False)
    alice, m = send(alice, b"x")
    with pytest.raises((DecryptError, TooManySkippedError)):
        recv(bob, m)


@both_modes
def test_earlier_states_stay_unchanged_through_a_conversation(he: bool) -> None:
    # consecutive states share their DH part; no later step may change an earlier state
    alice, bob = make_pair(he)
    sides = [alice, bob]
    kept: list[tuple[RatchetState, bytes]] = [(alice, alice.to_bytes()), (bob, bob.to_bytes())]
    in_flight: list[tuple[int, bytes]] = []
    for i in range(120):
        s = 0 if i % 7 < 4 or not sides[1].can_send else 1
        sides[s], msg = send(sides[s], bytes([i]) * i)
        in_flight.append((1 - s, msg))
        if i % 3 == 2:  # deliver out of order: newest first, keep one back now and then
            in_flight.reverse()
            while len(in_flight) > (i % 2):
                d, m = in_flight.pop(0)
                sides[d], _ = recv(sides[d], m)
        if i % 10 == 0:
            sides[0] = sides[0].with_rng(det_rng(bytes([i])))
        kept.extend((st, st.to_bytes()) for st in sides)
    for d, m in in_flight:
        sides[d], _ = recv(sides[d], m)
    assert all(st.to_bytes() == blob for st, blob in kept)
    assert sides[0].skipped_count == sides[1].skipped_count == 0
