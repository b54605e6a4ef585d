"""The SQLite store: WAL, FTS, spaces, chain checks, holding, atomic inserts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import EntryError, ForkError, StoreError
from gateway.memory import merkle
from gateway.memory.author import append_entry, supersede, tombstone
from gateway.memory.entry import ZERO_HASH, sign_entry
from gateway.memory.spaces import Space
from gateway.memory.store import MemoryStore
from gateway.memory.verify import verify_file, verify_store

from .helpers import fill, key_from, pub


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    s = MemoryStore(tmp_path / "memory.db")
    yield s  # type: ignore[misc]
    s.close()


def test_wal_and_full_sync(store: MemoryStore) -> None:
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2  # FULL


def test_fts_finds_by_body_topic_and_tag(store: MemoryStore) -> None:
    key = key_from(1)
    append_entry(store, key, timestamp_ms=1, body="the onion router", topic="tor", tags=["net"])
    append_entry(store, key, timestamp_ms=2, body="ratchet keys", topic="crypto", tags=["keys"])
    assert [e.body for e in store.search("onion")] == ["the onion router"]
    assert [e.body for e in store.search("crypto")] == ["ratchet keys"]
    assert [e.body for e in store.search("net")] == ["the onion router"]
    assert store.search("missing") == []
    assert store.search('quote"s AND (') == []


def test_supersede_and_tombstone_hide_targets(store: MemoryStore) -> None:
    key = key_from(1)
    first = append_entry(store, key, timestamp_ms=1, body="draft alpha")
    supersede(store, key, first, timestamp_ms=2, body="final alpha")
    other = append_entry(store, key, timestamp_ms=3, body="beta alpha")
    tombstone(store, key, other, timestamp_ms=4)
    assert [e.body for e in store.search("alpha")] == ["final alpha"]
    assert store.count() == 4  # nothing rewritten


def test_spaces_isolation(store: MemoryStore) -> None:
    alice, bob = pub(key_from(10)), pub(key_from(11))
    store.set_space(Space("work", all_contacts=False, members=frozenset({alice})))
    key = key_from(1)
    append_entry(store, key, timestamp_ms=1, body="public")
    append_entry(store, key, timestamp_ms=2, body="secret", space="work")
    assert {e.body for e in store.entries_for_peer(alice)} == {"public", "secret"}
    assert {e.body for e in store.entries_for_peer(bob)} == {"public"}
    assert store.spaces_for_peer(bob) == ["default"]


def test_wrong_space_refused_and_counted(store: MemoryStore) -> None:
    store.set_space(Space("work", all_contacts=False, members=frozenset()))
    key = key_from(1)
    e = sign_entry(key, seq=1, prev=ZERO_HASH, timestamp_ms=1, space="work")
    with pytest.raises(EntryError) as info:
        store.insert(e, from_peer=pub(key_from(12)))
    assert info.value.reason == "wrong_space"
    unknown = sign_entry(key, seq=1, prev=ZERO_HASH, timestamp_ms=1, space="nowhere")
    with pytest.raises(EntryError):
        store.insert(unknown)
    assert store.rejection_counts() == {"wrong_space": 2}
    assert store.count() == 0


def test_fork_refused_and_counted(store: MemoryStore) -> None:
    key = key_from(1)
    first = append_entry(store, key, timestamp_ms=1, body="one")
    fork = sign_entry(key, seq=1, prev=ZERO_HASH, timestamp_ms=1, space="default", body="two")
    with pytest.raises(ForkError):
        store.insert(fork)
    assert store.rejection_counts() == {"fork": 1}
    assert store.insert(first).status == "duplicate"
    assert store.count() == 1


def test_broken_chain_refused(store: MemoryStore) -> None:
    key = key_from(1)
    append_entry(store, key, timestamp_ms=1)
    bad = sign_entry(key, seq=2, prev=b"\x07" * 32, timestamp_ms=2, space="default")
    with pytest.raises(EntryError) as info:
        store.insert(bad)
    assert info.value.reason == "broken_chain"


def test_out_of_order_tail_is_held_then_released(store: MemoryStore) -> None:
    key = key_from(1)
    src = MemoryStore(":memory:")
    fill(src, key, 4)
    chain = src.chain("default", pub(key))
    assert store.insert(chain[3]).status == "held"
    assert store.insert(chain[2]).status == "held"
    assert store.has(chain[3].id) and store.get(chain[3].id) is None
    assert store.insert(chain[0]).status == "stored"
    result = store.insert(chain[1])
    assert result.status == "stored"
    assert result.released == (chain[2].id, chain[3].id)
    assert store.held_count() == 0
    assert [e.seq for e in store.chain("default", pub(key))] == [1, 2, 3, 4]


def test_interrupted_insert_leaves_nothing(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = key_from(1)
    append_entry(store, key, timestamp_ms=1, body="kept")
    root_before = store.tree_root()

    def boom(*args: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(store, "_index_text", boom)
    entry = sign_entry(
        key, seq=2, prev=store.heads("default")[pub(key)][1], timestamp_ms=2, space="default"
    )
    with pytest.raises(RuntimeError):
        store.insert(entry)
    monkeypatch.undo()
    assert store.count() == 1 and store.log_size() == 1
    assert store.get(entry.id) is None
    assert store.tree_root() == root_before
    assert store.insert(entry).status == "stored"
    assert verify_store(store).ok


def test_log_persists_and_proves(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with MemoryStore(path) as s:
        fill(s, key_from(1), 9)
        root, size = s.tree_root(), s.log_size()
        target = s.chain("default", pub(key_from(1)))[4]
    with MemoryStore(path) as s:
        assert (s.tree_root(), s.log_size()) == (root, size)
        index, proof = s.inclusion_proof(target.id)
        assert merkle.verify_inclusion(merkle.leaf_hash(target.id), index, size, proof, root)
        fill(s, key_from(2), 3)
        proof = s.consistency_proof(size)
        assert merkle.verify_consistency(size, s.log_size(), root, s.tree_root(), proof)
        report = verify_store(s)
        assert report.ok and report.entries == 12


def test_verify_store_detects_a_bad_signature(store: MemoryStore) -> None:
    fill(store, key_from(1), 3)
    entry = store.chain("default", pub(key_from(1)))[1]
    forged = entry.encode()[:-64] + bytes(64)
    store._db.execute("UPDATE entries SET raw=? WHERE id=?", (forged, entry.id))
    report = verify_store(store)
    assert not report.ok
    assert report.bad_signatures == [entry.id]


def test_a_snapshot_reads_one_committed_state_while_the_store_goes_on(
    store: MemoryStore, tmp_path: Path
) -> None:
    fill(store, key_from(1), 5)
    snap = MemoryStore.snapshot(tmp_path / "memory.db")
    try:
        fill(store, key_from(2), 4)  # written after the snapshot was taken
        assert snap.count() == 5 and len(list(snap.all_entries())) == 5
        assert snap.log_leaves() == store.log_leaves()[:5]
        report = verify_store(snap)
        assert report.ok and report.entries == 5
        with pytest.raises(StoreError):  # read-only
            snap.set_space(Space("work", all_contacts=True))
    finally:
        snap.close()
    assert store.count() == 9


def test_verify_file_audits_the_file_and_finds_a_forged_entry(
    store: MemoryStore, tmp_path: Path
) -> None:
    fill(store, key_from(1), 3)
    assert verify_file(tmp_path / "memory.db").ok
    entry = store.chain("default", pub(key_from(1)))[2]
    forged = entry.encode()[:-64] + bytes(64)
    store._db.execute("UPDATE entries SET raw=? WHERE id=?", (forged, entry.id))
    report = verify_file(tmp_path / "memory.db")
    assert not report.ok and report.bad_signatures == [entry.id] and report.entries == 3


def test_a_snapshot_of_a_missing_file_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        MemoryStore.snapshot(tmp_path / "nothing.db")
