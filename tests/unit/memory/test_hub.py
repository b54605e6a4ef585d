"""SyncHub: many sync sessions multiplexed on one channel, wired hub to hub in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.memory import merkle
from gateway.memory import messages as m
from gateway.memory.author import append_entry
from gateway.memory.entry import ZERO_HASH, Entry, sign_entry
from gateway.memory.events import SpaceRefused, SplitViewDetected
from gateway.memory.hub import (
    FROM_INITIATOR,
    FROM_RESPONDER,
    LINGER_MS,
    MAX_RESPONDING,
    SyncFinished,
    SyncHub,
    decode_envelope,
    encode_envelope,
    split_views,
)
from gateway.memory.spaces import Space
from gateway.memory.store import MemoryStore
from gateway.memory.treeheads import SEEN

from .helpers import fill, key_from, pub


class Clock:
    """A fake millisecond clock."""

    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class Side:
    hub: SyncHub
    key: Ed25519PrivateKey
    finished: list[SyncFinished] = field(default_factory=list)

    @property
    def store(self) -> MemoryStore:
        return self.hub.store

    @property
    def pub(self) -> bytes:
        return pub(self.key)

    def ids(self, space: str | None = None) -> set[bytes]:
        return {e.id for _, e in self.store.all_entries() if space in (None, e.space)}

    def collect(self) -> list[SyncFinished]:
        self.finished += self.hub.finished()
        return self.finished


def side(path: Path | str, seed: int, clock: Clock) -> Side:
    return Side(SyncHub(MemoryStore(path), key_from(seed), clock), key_from(seed))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pair(tmp_path: Path, clock: Clock) -> tuple[Side, Side]:
    return side(tmp_path / "a.db", 1, clock), side(tmp_path / "b.db", 2, clock)


def exchange(
    a: Side, b: Side, to_b: list[bytes], to_a: list[bytes] | None = None, max_turns: int = 60
) -> int:
    """Deliver envelopes both ways until the wire is quiet; the number of turns."""
    to_a = list(to_a or [])
    turns = 0
    while to_a or to_b:
        turns += 1
        assert turns <= max_turns, "the sync did not go quiet"
        replies_a: list[bytes] = []
        for env in to_b:
            replies_a += b.hub.receive(a.pub, env)
        replies_b: list[bytes] = []
        for env in to_a:
            replies_b += a.hub.receive(b.pub, env)
        to_a, to_b = replies_a, replies_b
    a.collect()
    b.collect()
    return turns


def sync(a: Side, b: Side) -> int:
    """One session, ``a`` initiating; its session id."""
    started = a.hub.start(b.pub)
    assert started is not None
    sid, envelopes = started
    exchange(a, b, envelopes)
    return sid


# --- envelopes ---------------------------------------------------------------------------


def test_envelope_round_trip() -> None:
    env = encode_envelope(FROM_RESPONDER, 2**64 - 1, b"\x01\x02")
    assert len(env) == 9 + 2
    assert decode_envelope(env) == (FROM_RESPONDER, 2**64 - 1, b"\x01\x02")


# --- convergence ---------------------------------------------------------------------------


def test_entries_converge_both_ways(pair: tuple[Side, Side]) -> None:
    a, b = pair
    fill(a.store, a.key, 5)
    fill(b.store, b.key, 7, start_ts=5000)
    sid = sync(a, b)
    assert a.ids() == b.ids() and len(a.ids()) == 12
    assert not a.hub.running(b.pub, sid) and not a.hub.initiating(b.pub)
    [mine] = a.finished
    assert (mine.peer, mine.sid, mine.initiator, mine.error) == (b.pub, sid, True, None)
    assert mine.stored == 7
    [theirs] = b.finished
    assert (theirs.peer, theirs.sid, theirs.initiator, theirs.error) == (a.pub, sid, False, None)
    assert theirs.stored == 5


def test_equal_stores_finish_without_storing(pair: tuple[Side, Side]) -> None:
    a, b = pair
    fill(a.store, key_from(9), 4)
    fill(b.store, key_from(9), 4)
    sync(a, b)
    assert [f.stored for f in a.finished + b.finished] == [0, 0]
    assert all(f.error is None for f in a.finished + b.finished)


def test_no_shared_space_starts_nothing(pair: tuple[Side, Side]) -> None:
    a, b = pair
    a.store.set_space(Space("default", False))
    assert a.hub.start(b.pub) is None
    assert not a.hub.initiating(b.pub)


def test_both_sides_initiating_at_once_converge(pair: tuple[Side, Side]) -> None:
    a, b = pair
    fill(a.store, a.key, 40)
    fill(b.store, b.key, 30, start_ts=1500)
    fill(a.store, key_from(7), 20, start_ts=3000)
    started_a, started_b = a.hub.start(b.pub), b.hub.start(a.pub)
    assert started_a is not None and started_b is not None
    exchange(a, b, started_a[1], started_b[1])
    assert a.ids() == b.ids() and len(a.ids()) == 90
    for s in (a, b):
        assert sorted(f.initiator for f in s.finished) == [False, True]
        assert all(f.error is None for f in s.finished)
    assert not a.hub.initiating(b.pub) and not b.hub.initiating(a.pub)


def test_same_session_id_both_ways_does_not_collide(
    pair: tuple[Side, Side], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    monkeypatch.setattr("gateway.memory.hub.secrets.randbits", lambda _bits: 42)
    fill(a.store, a.key, 3)
    fill(b.store, b.key, 2, start_ts=9000)
    started_a, started_b = a.hub.start(b.pub), b.hub.start(a.pub)
    assert started_a is not None and started_b is not None
    assert started_a[0] == started_b[0] == 42
    exchange(a, b, started_a[1], started_b[1])
    assert a.ids() == b.ids() and len(a.ids()) == 5
    assert all(f.error is None and f.sid == 42 for f in a.finished + b.finished)
    assert len(a.finished) == len(b.finished) == 2


def test_unshared_space_never_crosses(pair: tuple[Side, Side]) -> None:
    a, b = pair
    outsider = pub(key_from(3))
    a.store.set_space(Space("work", False, frozenset({b.pub})))
    b.store.set_space(Space("work", False, frozenset({a.pub})))
    a.store.set_space(Space("secret", False, frozenset({outsider})))
    b.store.set_space(Space("secret", True))  # b would share it, a does not
    for s, ts in ((a, 100), (b, 200)):
        append_entry(s.store, s.key, timestamp_ms=ts, body="plan", space="work")
        append_entry(s.store, s.key, timestamp_ms=ts + 1, body="hidden", space="secret")
        append_entry(s.store, s.key, timestamp_ms=ts + 2, body="hello")
    for first, second in ((a, b), (b, a)):
        sync(first, second)
    assert a.ids("work") == b.ids("work") and len(a.ids("work")) == 2
    assert a.ids("default") == b.ids("default") and len(a.ids("default")) == 2
    assert len(a.ids("secret")) == 1 and len(b.ids("secret")) == 1
    assert a.ids("secret") != b.ids("secret")
    refused = [e for _, e in b.hub.events() if isinstance(e, SpaceRefused)]
    assert refused == [SpaceRefused("secret", "not_shared")]
    assert a.store.rejection_counts().get("wrong_space") == 1
    assert all(f.error is None for f in a.finished + b.finished)


def test_refused_entries_are_counted_in_the_result(pair: tuple[Side, Side]) -> None:
    a, b = pair
    fill(b.store, b.key, 3)
    started = a.hub.start(b.pub)
    assert started is not None
    sid, envelopes = started
    junk = m.encode(m.Entries("default", (b"junk",), False, False))
    assert a.hub.receive(b.pub, encode_envelope(FROM_RESPONDER, sid, junk)) == []
    exchange(a, b, envelopes)
    [mine] = a.finished
    assert mine.error is None and mine.refused == {"malformed": 1} and mine.stored == 3


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", bytes(9), b"\x02" + bytes(8) + b"\x01", b"\xff" * 20],
    ids=["empty", "one-byte", "header-only", "role-2", "role-255"],
)
def test_malformed_envelope_is_counted(pair: tuple[Side, Side], data: bytes) -> None:
    a, b = pair
    assert b.hub.receive(a.pub, data) == []
    assert b.store.rejection_counts() == {"malformed_envelope": 1}
    assert b.hub.finished() == []


def test_garbage_message_ends_a_new_session_with_an_error(pair: tuple[Side, Side]) -> None:
    a, b = pair
    assert b.hub.receive(a.pub, encode_envelope(FROM_INITIATOR, 7, b"\x01\x63garbage")) == []
    assert b.store.rejection_counts() == {"sync_error": 1}
    [done] = b.hub.finished()
    assert (done.sid, done.initiator) == (7, False)
    assert done.error is not None and "FrameError" in done.error


def test_garbage_mid_session_ends_ours(pair: tuple[Side, Side]) -> None:
    a, b = pair
    started = a.hub.start(b.pub)
    assert started is not None
    sid = started[0]
    assert a.hub.receive(b.pub, encode_envelope(FROM_RESPONDER, sid, b"\x09\x01")) == []
    assert not a.hub.running(b.pub, sid)
    [done] = a.hub.finished()
    assert done.initiator and done.error is not None and "VersionError" in done.error
    assert a.store.rejection_counts() == {"sync_error": 1}


def test_unknown_session_of_ours_is_counted(pair: tuple[Side, Side]) -> None:
    a, b = pair
    hello = m.encode(m.Done("default"))
    assert a.hub.receive(b.pub, encode_envelope(FROM_RESPONDER, 12345, hello)) == []
    assert a.store.rejection_counts() == {"unknown_session": 1}
    assert a.hub.finished() == []


def test_message_before_hello_is_a_sync_error(pair: tuple[Side, Side]) -> None:
    a, b = pair
    want = m.encode(m.Want("default", (bytes(32),)))
    assert b.hub.receive(a.pub, encode_envelope(FROM_INITIATOR, 1, want)) == []
    assert b.store.rejection_counts() == {"sync_error": 1}
    [done] = b.hub.finished()
    assert done.error is not None and "before its Hello" in done.error


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    role=st.integers(0, 1),
    sid=st.integers(0, 3),
    body=st.one_of(
        st.binary(max_size=80),
        st.tuples(st.integers(1, 9), st.binary(max_size=80)).map(lambda t: bytes([1, t[0]]) + t[1]),
    ),
)
def test_fuzzed_envelopes_never_raise(role: int, sid: int, body: bytes) -> None:
    clock = Clock()
    hub = SyncHub(MemoryStore(":memory:"), key_from(2), clock)
    peer = pub(key_from(1))
    started = hub.start(peer)
    assert started is not None
    replies = hub.receive(peer, encode_envelope(role, started[0] if sid == 0 else sid, body))
    assert all(decode_envelope(r)[0] == 1 - role for r in replies)
    for done in hub.finished():
        assert done.error is None or isinstance(done.error, str)
    clock.now += 10**9
    hub.expire()
    assert not hub.initiating(peer)


# --- upkeep ---------------------------------------------------------------------------------


def test_expire_times_out_idle_sessions(tmp_path: Path, clock: Clock) -> None:
    a = Side(
        SyncHub(MemoryStore(tmp_path / "a.db"), key_from(1), clock, idle_timeout_ms=5000),
        key_from(1),
    )
    b_pub = pub(key_from(2))
    started = a.hub.start(b_pub)
    assert started is not None
    sid = started[0]
    clock.now += 5000
    a.hub.expire()
    assert a.hub.running(b_pub, sid) and a.hub.finished() == []
    clock.now += 1
    a.hub.expire()
    assert not a.hub.running(b_pub, sid)
    [done] = a.hub.finished()
    assert (done.sid, done.initiator, done.error) == (sid, True, "timed out")
    a.hub.expire()
    assert a.hub.finished() == []


def test_activity_keeps_a_session_alive(tmp_path: Path, clock: Clock) -> None:
    a = Side(
        SyncHub(MemoryStore(tmp_path / "a.db"), key_from(1), clock, idle_timeout_ms=5000),
        key_from(1),
    )
    b = side(tmp_path / "b.db", 2, clock)
    fill(b.store, b.key, 2)
    started = a.hub.start(b.pub)
    assert started is not None
    sid, envelopes = started
    clock.now += 4000
    replies = [r for env in envelopes for r in b.hub.receive(a.pub, env)]
    a.hub.receive(b.pub, replies[0])  # the tree head only
    clock.now += 4000
    a.hub.expire()
    assert a.hub.running(b.pub, sid)


def test_finished_responder_lingers_then_goes(pair: tuple[Side, Side], clock: Clock) -> None:
    a, b = pair
    started = a.hub.start(b.pub)
    assert started is not None
    envelopes = started[1]
    exchange(a, b, envelopes)
    assert [f.initiator for f in b.finished] == [False]
    hello = next(e for e in envelopes if m.decode(decode_envelope(e)[2]).__class__ is m.Hello)
    clock.now += LINGER_MS
    b.hub.expire()
    # still there: the same session answers a late Hello (no second tree head, no new report)
    late = b.hub.receive(a.pub, hello)
    assert [type(m.decode(decode_envelope(r)[2])) for r in late] == [m.InSync]
    assert b.hub.finished() == []
    clock.now += LINGER_MS + 1
    b.hub.expire()
    assert b.hub.finished() == []  # a lingering session is not reported twice
    fresh = b.hub.receive(a.pub, hello)
    assert [type(m.decode(decode_envelope(r)[2])) for r in fresh] == [m.TreeHead, m.InSync]
    assert len(b.hub.finished()) == 1


def test_drop_peer_ends_sessions_with_an_error(pair: tuple[Side, Side]) -> None:
    a, b = pair
    fill(a.store, a.key, 3)
    fill(b.store, b.key, 3, start_ts=7000)
    started = a.hub.start(b.pub)
    assert started is not None
    sid, envelopes = started
    for env in envelopes:
        b.hub.receive(a.pub, env)  # b answered; both sessions are mid-way
    a.hub.drop_peer(b.pub)
    b.hub.drop_peer(a.pub)
    [mine] = a.hub.finished()
    [theirs] = b.hub.finished()
    assert (mine.initiator, mine.error) == (True, "link closed")
    assert (theirs.initiator, theirs.error) == (False, "link closed")
    assert not a.hub.running(b.pub, sid)
    # the reply of a dropped session is an unknown session now
    assert (
        a.hub.receive(b.pub, encode_envelope(FROM_RESPONDER, sid, m.encode(m.Done("default"))))
        == []
    )
    assert a.store.rejection_counts()["unknown_session"] == 1


def test_drop_peer_leaves_other_peers_alone(pair: tuple[Side, Side]) -> None:
    a, b = pair
    other = pub(key_from(5))
    first, second = a.hub.start(b.pub), a.hub.start(other)
    assert first is not None and second is not None
    a.hub.drop_peer(b.pub)
    assert a.hub.running(other, second[0]) and not a.hub.running(b.pub, first[0])
    assert [f.peer for f in a.hub.finished()] == [b.pub]


def test_at_most_max_responding_sessions_per_peer(pair: tuple[Side, Side]) -> None:
    a, b = pair
    opened = []
    for _ in range(MAX_RESPONDING + 1):
        started = a.hub.start(b.pub)
        assert started is not None
        opened.append(started)
    # the tree head alone opens a session on b that is not done yet
    answers = [b.hub.receive(a.pub, envelopes[0]) for _, envelopes in opened]
    assert all(answers[:MAX_RESPONDING]) and answers[MAX_RESPONDING] == []
    assert b.store.rejection_counts() == {"busy": 1}
    # another peer is not limited by a's sessions
    c = pub(key_from(3))
    assert b.hub.receive(c, encode_envelope(FROM_INITIATOR, 1, m.encode(m.ConsistencyRequest(0))))
    # once one of a's sessions finishes, a new one is accepted
    sid, envelopes = opened[0]
    exchange(a, b, envelopes[1:], answers[0])
    assert any(f.sid == sid and f.error is None for f in b.finished)
    envelopes5 = opened[MAX_RESPONDING][1]
    assert b.hub.receive(a.pub, envelopes5[0])


def test_split_view_is_reported(pair: tuple[Side, Side]) -> None:
    a, b = pair
    fill(a.store, a.key, 2)
    # b once saw a (forged-looking but validly signed) larger log from a
    b.store.record_tree_head(a.pub, SEEN, merkle.sign_tree_head(a.key, 50, bytes(32), 1))
    sync(a, b)
    views = split_views(b.hub.events())
    assert len(views) == 1 and views[0].peer == a.pub and views[0].reason == "log shrank"
    assert isinstance(views[0], SplitViewDetected)
    assert b.store.rejection_counts()["split_view"] == 1
    assert a.ids() == b.ids()


# --- the property ---------------------------------------------------------------------------


def _chain(seed: int, length: int, space: str = "default") -> list[Entry]:
    key = key_from(seed)
    out: list[Entry] = []
    prev = ZERO_HASH
    for seq in range(1, length + 1):
        e = sign_entry(
            key, seq=seq, prev=prev, timestamp_ms=(seed * 7919 + seq * 104_729) % 100_000,
            space=space, body=f"{seed}/{seq}",
        )  # fmt: skip
        out.append(e)
        prev = e.id
    return out


#: singles (each its own author) make random sets; chains make tails
POOL: list[list[bytes]] = [[e.encode() for e in _chain(100 + i, 1)] for i in range(70)] + [
    [e.encode() for e in _chain(500 + i, 12)] for i in range(4)
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=len(POOL), max_size=len(POOL)
    ),
    a_first=st.booleans(),
)
def test_random_sets_converge_in_one_sync(cuts: list[tuple[int, int]], a_first: bool) -> None:
    clock = Clock()
    a, b = side(":memory:", 1, clock), side(":memory:", 2, clock)
    for chain, (cut_a, cut_b) in zip(POOL, cuts, strict=True):
        a.store.insert_many(chain[:cut_a])
        b.store.insert_many(chain[:cut_b])
    union = a.ids() | b.ids()
    before = {id(s): len(s.ids()) for s in (a, b)}
    first, second = (a, b) if a_first else (b, a)
    sync(first, second)
    assert a.ids() == b.ids() == union
    assert a.store.held_count() == b.store.held_count() == 0
    assert [f.error for f in a.finished + b.finished] == [None, None]
    for s in (a, b):
        assert s.finished[0].stored == len(union) - before[id(s)]
