"""The sync core wired directly between in-memory stores: fast path, rogue peers, resume."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.errors import FrameError, SyncError, VersionError
from gateway.memory import messages as m
from gateway.memory.author import append_entry
from gateway.memory.entry import ZERO_HASH, sign_entry
from gateway.memory.events import (
    EntriesRefused,
    ForkDetected,
    SpaceRefused,
    SpaceSynced,
    SplitViewDetected,
    TreeHeadAccepted,
)
from gateway.memory.reconcile.fingerprint import fingerprint
from gateway.memory.spaces import Space
from gateway.memory.store import MemoryStore
from gateway.memory.sync import SyncSession
from gateway.memory.verify import verify_store

from .helpers import Node, fill, key_from, pub, run_sync


def node(seed: int) -> Node:
    return Node(MemoryStore(":memory:"), key_from(seed))


def ids(n: Node) -> set[bytes]:
    return {e.id for _, e in n.store.all_entries()}


def test_equal_stores_one_round_trip() -> None:
    a, b = node(1), node(2)
    for n in (a, b):
        fill(n.store, key_from(9), 40)
    run = run_sync(a, b)
    assert run.round_trips == 1
    assert SpaceSynced("default") in run.events_a and SpaceSynced("default") in run.events_b
    assert run.a.done and run.b.done


def test_missing_tails_both_ways_converge_in_two_round_trips() -> None:
    a, b = node(1), node(2)
    fill(a.store, a.key, 30)
    fill(b.store, b.key, 20)
    shared = [e.encode() for _, e in a.store.all_entries()][:10]
    b.store.insert_many(shared)
    run = run_sync(a, b)
    assert run.round_trips <= 2
    assert ids(a) == ids(b) and len(ids(a)) == 50
    assert verify_store(a.store).ok and verify_store(b.store).ok


def test_three_nodes_converge() -> None:
    nodes = [node(i) for i in (1, 2, 3)]
    for i, n in enumerate(nodes):
        fill(n.store, n.key, 10 + i)
    run_sync(nodes[0], nodes[1])
    run_sync(nodes[1], nodes[2])
    run_sync(nodes[2], nodes[0])
    assert ids(nodes[0]) == ids(nodes[1]) == ids(nodes[2])
    assert len(ids(nodes[0])) == 33


def test_private_space_stays_private() -> None:
    a, b, c = node(1), node(2), node(3)
    for n in (a, b):
        n.store.set_space(Space("work", all_contacts=False, members=frozenset({a.pub, b.pub})))
    append_entry(a.store, a.key, timestamp_ms=1, body="team plan", space="work")
    append_entry(a.store, a.key, timestamp_ms=2, body="hello all")
    run_sync(a, c)
    assert {e.body for _, e in c.store.all_entries()} == {"hello all"}
    run_sync(a, b)
    assert {e.body for _, e in b.store.all_entries()} == {"team plan", "hello all"}


def test_unshared_space_is_refused() -> None:
    a, b = node(1), node(2)
    a.store.set_space(Space("work", all_contacts=True))
    run = run_sync(a, b)
    assert SpaceRefused("work", "not_shared") in run.events_a
    assert b.store.rejection_counts() == {"wrong_space": 1}


def _rogue_batch(honest: Node, victim_author_seed: int) -> tuple[list[bytes], bytes]:
    """Bad entries of every kind, plus one good entry (whose id is returned)."""
    author = key_from(victim_author_seed)
    src = MemoryStore(":memory:")
    fill(src, author, 2)
    first, second = src.chain("default", pub(author))
    good = sign_entry(key_from(77), seq=1, prev=ZERO_HASH, timestamp_ms=5, space="default")
    tampered = bytearray(second.encode())
    tampered[80] ^= 1  # a timestamp byte
    forged = dataclasses.replace(
        sign_entry(key_from(78), seq=1, prev=ZERO_HASH, timestamp_ms=9, space="default"),
        author=pub(key_from(79)),
    )
    forked = sign_entry(
        author, seq=1, prev=ZERO_HASH, timestamp_ms=1, space="default", body="other history"
    )
    broken = sign_entry(author, seq=2, prev=b"\x05" * 32, timestamp_ms=3, space="default")
    secret = sign_entry(key_from(80), seq=1, prev=ZERO_HASH, timestamp_ms=3, space="work")
    batch = [bytes(tampered), forged.encode(), forked.encode(), broken.encode(),
             first.encode()[:50], secret.encode(), good.encode()]  # fmt: skip
    return batch, good.id


def test_rogue_peer_entries_refused_and_honest_nodes_converge() -> None:
    a, b = node(1), node(2)
    fill(a.store, key_from(50), 1)  # the victim author's first entry, honest copy
    b.store.insert_many([e.encode() for _, e in a.store.all_entries()])
    fill(b.store, b.key, 5)
    b.store.set_space(Space("work", all_contacts=False, members=frozenset({a.pub})))
    rogue_key = key_from(66)
    rogue = SyncSession(b.store, node_key=b.key, peer=pub(rogue_key), initiator=False, now_ms=1)
    hello = m.Hello("default", 0, fingerprint([]), ())
    rogue.receive(m.encode(hello))
    batch, good_id = _rogue_batch(b, 50)
    rogue.receive(m.encode(m.Entries("default", tuple(batch), False, True)))
    counts = b.store.rejection_counts()
    assert counts == {"bad_signature": 2, "fork": 1, "broken_chain": 1, "malformed": 1,
                      "wrong_space": 1}  # fmt: skip
    refused = [e for e in rogue.events() if isinstance(e, EntriesRefused)]
    assert refused and sum(n for _, n in refused[0].reasons) == 6
    assert b.store.get(good_id) is not None
    run = run_sync(a, b)
    assert ids(a) == ids(b)
    assert run.a.done and run.b.done
    assert verify_store(a.store).ok and verify_store(b.store).ok


def test_rogue_pushing_bad_tails_falls_back_to_reconciliation_and_ends() -> None:
    a, b = node(1), node(2)
    fill(a.store, a.key, 5)
    fill(b.store, b.key, 5)
    # b's store is tampered on disk: one raw entry carries a broken signature
    victim = b.store.chain("default", b.pub)[4]
    b.store._db.execute(
        "UPDATE entries SET raw=? WHERE id=?", (victim.encode()[:-64] + bytes(64), victim.id)
    )
    run = run_sync(a, b)
    assert a.store.rejection_counts().get("bad_signature", 0) >= 1
    assert a.store.get(victim.id) is None
    assert len(ids(a)) == 9 and len(ids(b)) == 10
    assert run.turns < 20 and run.a.done


def test_fork_between_peers_is_reported() -> None:
    a, b = node(1), node(2)
    author = key_from(40)
    append_entry(a.store, author, timestamp_ms=1, body="version a")
    append_entry(b.store, author, timestamp_ms=1, body="version b")
    run = run_sync(a, b)
    forks = [e for e in run.events_a + run.events_b if isinstance(e, ForkDetected)]
    assert forks and forks[0].author == pub(author)
    assert b.store.rejection_counts().get("fork", 0) + a.store.rejection_counts().get("fork", 0)


def test_resume_after_disconnect_does_not_resend_everything() -> None:
    a, b = node(1), node(2)
    for i in range(40):
        append_entry(a.store, key_from(100 + i % 4), timestamp_ms=i, body=f"{i} " + "x" * 20_000)
    full = run_sync(a, node(4))
    # turn 1: tree head + hello; turn 2: b's answer; turn 3: a pushes ~800 KB in 256 KB chunks
    run_sync(a, b, max_messages=2 + 3 + 3)
    had = b.store.count()
    assert 0 < had < a.store.count()
    second = run_sync(a, b)
    assert ids(a) == ids(b)
    assert second.bytes_sent < full.bytes_sent - had * 20_000


def test_split_view_detected() -> None:
    a, b = node(1), node(2)
    fill(a.store, a.key, 5)
    run = run_sync(a, b)
    assert any(isinstance(e, TreeHeadAccepted) for e in run.events_b)
    fill(a.store, a.key, 3, start_ts=5000)
    run = run_sync(a, b)  # honest growth: consistent
    assert not any(isinstance(e, SplitViewDetected) for e in run.events_b)
    rewritten = Node(MemoryStore(":memory:"), a.key)  # same node key, history rewritten
    fill(rewritten.store, key_from(90), 12)
    run = run_sync(rewritten, b)
    splits = [e for e in run.events_b if isinstance(e, SplitViewDetected)]
    assert splits and splits[0].peer == a.pub
    assert b.store.rejection_counts().get("split_view") == 1


def test_tree_head_from_another_signer_is_refused() -> None:
    a, b = node(1), node(2)
    sess = SyncSession(b.store, node_key=b.key, peer=a.pub, initiator=False, now_ms=1)
    sth = node(3)
    msgs = SyncSession(sth.store, node_key=sth.key, peer=b.pub, initiator=True, now_ms=1).start()
    sess.receive(msgs[0])
    assert b.store.rejection_counts() == {"bad_tree_head": 1}


def test_malformed_messages_raise_typed_errors() -> None:
    sess = SyncSession(node(1).store, node_key=key_from(1), peer=pub(key_from(2)),
                       initiator=False, now_ms=1)  # fmt: skip
    good = m.encode(m.Want("default", (bytes(32),)))
    for bad, err in (
        (b"", FrameError),
        (b"\x02" + good[1:], VersionError),
        (good[:1] + b"\x63" + good[2:], FrameError),
        (good[:-1], FrameError),
        (good + b"\x00", FrameError),
        (b"\x01\x04\x07default\xff\xff\x03", FrameError),  # Want claiming 65535 ids
    ):
        with pytest.raises(err):
            sess.receive(bad)
    with pytest.raises(SyncError):
        sess.receive(good)  # a Want before any Hello for the space


def test_message_codec_round_trip() -> None:
    msgs: list[m.Message] = [
        m.Hello("default", 3, bytes(16), (m.Head(b"\x01" * 32, 7, b"\x02" * 32),)),
        m.InSync("x"),
        m.Want("default", (b"\x03" * 32,)),
        m.Entries("default", (b"abc", b""), True, False),
        m.Done("d"),
        m.ConsistencyRequest(12),
        m.Refuse("s", "not_shared"),
    ]
    for msg in msgs:
        assert m.decode(m.encode(msg)) == msg
