"""The store's vectors: written with their entry, backfilled, dropped on a model change,
searched by meaning and fused with keyword search."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gateway.memory import vecindex
from gateway.memory.author import append_entry, tombstone
from gateway.memory.entry import Entry
from gateway.memory.ranking import Filters, Mode
from gateway.memory.store import MemoryStore, embed_text, text_to_embed

from .fake_embedder import BagOfWords
from .helpers import key_from, pub


def put(store: MemoryStore, body: str, *, ts: int, seed: int = 1, **kw: object) -> bytes:
    """Write an entry with its vector ready, as the node does."""
    assert store.embedder is not None
    text = text_to_embed(str(kw.get("topic", "")), list(kw.get("tags", ())), body)  # type: ignore[call-overload]
    store.provide_vectors([text], store.embedder.embed([text]))
    return append_entry(store, key_from(seed), timestamp_ms=ts, body=body, **kw).id  # type: ignore[arg-type]


def vector_of(store: MemoryStore, text: str) -> np.ndarray:
    assert store.embedder is not None
    return store.embedder.embed([text])[0]


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    s = MemoryStore(tmp_path / "m.db", embedder=BagOfWords())
    yield s
    s.close()


def test_an_entry_written_with_its_vector_has_it_at_once(store: MemoryStore) -> None:
    woken: list[int] = []
    store.on_unembedded = lambda: woken.append(1)
    put(store, "red fox jumps", ts=1)
    assert store.vector_count() == 1
    assert store.unembedded(10) == [] and woken == []


def test_an_entry_stored_without_its_vector_is_listed_then_backfilled(store: MemoryStore) -> None:
    woken: list[int] = []
    store.on_unembedded = lambda: woken.append(1)
    entry = append_entry(store, key_from(1), timestamp_ms=1, body="blue heron", topic="birds")
    assert woken == [1]
    (rowid, text), *_ = store.unembedded(10)
    assert text == embed_text(entry) == "birds\nblue heron"
    assert store.add_vectors([(rowid, vector_of(store, text))]) == 1
    assert store.add_vectors([(rowid, vector_of(store, text))]) == 0  # already there
    assert store.unembedded(10) == []
    hits = store.search_hits("heron", mode=Mode.SEMANTIC, query_vector=vector_of(store, "heron"))
    assert [h.entry.id for h in hits] == [entry.id]


def test_tombstones_get_no_vector(store: MemoryStore) -> None:
    entry_id = put(store, "to be deleted", ts=1)
    target = store.get(entry_id)
    assert target is not None
    tombstone(store, key_from(1), target, timestamp_ms=2)
    assert store.unembedded(10) == []
    assert store.search_hits("deleted", query_vector=vector_of(store, "to be deleted")) == []


def test_a_failed_vector_write_leaves_neither_entry_nor_vector(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(store, "kept", ts=1)
    root = store.tree_root()

    def boom(*args: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(store, "_write_vector", boom)
    with pytest.raises(RuntimeError):
        put(store, "lost", ts=2)
    monkeypatch.undo()
    assert store.count() == 1 and store.vector_count() == 1 and store.tree_root() == root
    put(store, "lost", ts=2)
    assert store.count() == 2 and store.vector_count() == 2


_WRITER = """
import sys
sys.path[:0] = [{tests!r}, {root!r}]
from unit.memory.fake_embedder import BagOfWords
from unit.memory.test_vectors import put
from gateway.memory.store import MemoryStore
store = MemoryStore({path!r}, embedder=BagOfWords())
for i in range(100000):
    put(store, f"entry number {{i}} about foxes", ts=i + 1)
    print(i, flush=True)
"""


def test_a_writer_killed_mid_write_leaves_every_entry_with_its_vector(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    tests = str(Path(__file__).resolve().parents[2])
    root = str(Path(tests).parent)
    code = _WRITER.format(tests=tests, root=root, path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for _ in range(40):  # the writer says each entry it committed
        assert proc.stdout.readline(), "the writer stopped early"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with MemoryStore(path, embedder=BagOfWords()) as store:
        assert store.count() >= 40
        assert store.vector_count() == store.count()
        assert store.unembedded(10) == []
        rows = store._rows(
            "SELECT COUNT(*) FROM entry_vectors v LEFT JOIN entries e ON e.rowid = v.rowid "
            "WHERE e.rowid IS NULL"
        )
        assert rows[0][0] == 0


def test_a_model_change_drops_old_vectors_and_embeds_again(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with MemoryStore(path, embedder=BagOfWords()) as store:
        put(store, "grey wolf", ts=1)
        put(store, "snow owl", ts=2)
        assert store.vector_count() == 2
    with MemoryStore(path, embedder=BagOfWords("fake-bow", 64)) as store:
        assert store.vector_count() == 2  # same model: kept
    with MemoryStore(path, embedder=BagOfWords("other-model", 32)) as store:
        assert store.vector_count() == 0
        waiting = store.unembedded(10)
        assert sorted(t for _, t in waiting) == ["grey wolf", "snow owl"]
        embedder = store.embedder
        assert embedder is not None
        store.add_vectors((r, embedder.embed([t])[0]) for r, t in waiting)
        hits = store.search_hits("owl", mode=Mode.SEMANTIC, query_vector=vector_of(store, "owl"))
        assert [h.entry.body for h in hits][:1] == ["snow owl"]
        model = store._rows("SELECT model, dim FROM vector_model")
        assert [tuple(r) for r in model] == [("other-model", 32)]


def test_semantic_and_hybrid_rankings(store: MemoryStore) -> None:
    a = put(store, "otters swim in the cold river", ts=1)
    b = put(store, "the river floods in spring", ts=2)
    put(store, "tax forms are due in april", ts=3)
    query = "otters river"
    vec = vector_of(store, query)
    semantic = store.search_hits(query, mode=Mode.SEMANTIC, query_vector=vec)
    assert semantic[0].entry.id == a and semantic[0].similarity is not None
    assert all(h.similarity is not None and h.similarity >= 0.2 for h in semantic)
    keyword = store.search_hits(query, mode=Mode.KEYWORD)
    assert {h.entry.id for h in keyword} == {a, b}
    assert all(h.semantic_rank is None for h in keyword)
    hybrid = store.search_hits(query, mode=Mode.HYBRID, query_vector=vec)
    assert hybrid[0].entry.id == a
    assert hybrid[0].keyword_rank == 1 and hybrid[0].semantic_rank == 1
    assert hybrid[0].score > hybrid[1].score
    # without a query vector, hybrid is keyword alone and semantic finds nothing
    assert [h.entry.id for h in store.search_hits(query)] == [h.entry.id for h in keyword]
    assert store.search_hits(query, mode=Mode.SEMANTIC) == []


def test_filters_apply_to_every_mode(store: MemoryStore) -> None:
    store.set_space(__import__("gateway.memory.spaces", fromlist=["Space"]).Space("work", True))
    put(store, "fox den", ts=1, topic="wild", tags=["a"])
    put(store, "fox den", ts=2, topic="wild", tags=["a", "b"], space="work")
    put(store, "fox den", ts=3, topic="tame", tags=["b"], seed=2)
    vec = vector_of(store, "fox den")
    cases = {
        Filters(space="work"): 1, Filters(topic="wild"): 2, Filters(tags=("a", "b")): 1,
        Filters(author=pub(key_from(2))): 1, Filters(since_ms=2): 2, Filters(until_ms=1): 1,
    }  # fmt: skip
    for filters, expected in cases.items():
        for mode in Mode:
            hits = store.search_hits("fox den", mode=mode, filters=filters, query_vector=vec)
            assert len(hits) == expected, (filters, mode)
            assert all(filters.admits(h.entry) for h in hits)


def test_the_sign_bit_scan_finds_what_an_exact_scan_finds(tmp_path: Path) -> None:
    embedder = BagOfWords(dim=128)
    store = MemoryStore(tmp_path / "m.db", embedder=embedder)
    words = [f"w{i}" for i in range(60)]
    rng = np.random.default_rng(7)
    bodies = [" ".join(rng.choice(words, 4)) for _ in range(300)]
    ids = [put(store, body, ts=i + 1) for i, body in enumerate(bodies)]
    vectors = embedder.embed(bodies)
    for q in range(10):
        text = " ".join(rng.choice(words, 3))
        vec = vector_of(store, text)
        found = store.search_hits(text, mode=Mode.SEMANTIC, query_vector=vec, limit=5)
        sims = vectors @ vec
        exact = [ids[i] for i in np.argsort(-sims, kind="stable")[:3]]
        assert [h.entry.id for h in found][:3] == exact, q
        assert [h.similarity for h in found][:3] == pytest.approx(sorted(sims, reverse=True)[:3])
    store.close()


def test_the_scan_is_loaded_from_disk_and_follows_commits_only(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "m.db", embedder=BagOfWords())
    put(store, "otter river", ts=1)
    store.close()
    store = MemoryStore(tmp_path / "m.db", embedder=BagOfWords())
    vec = vector_of(store, "otter")
    assert len(store.search_hits("otter", mode=Mode.SEMANTIC, query_vector=vec)) == 1
    text = text_to_embed("", [], "otter lake")
    store.provide_vectors([text], store.embedder.embed([text]))  # type: ignore[union-attr]
    with pytest.raises(RuntimeError), store._transaction() as db:
        store._insert_verified(db, _signed(store, "otter lake", ts=2))
        raise RuntimeError("rolled back")
    assert len(store._scan or []) == 1  # the rolled-back vector never reached the scan
    put(store, "otter lake", ts=2)
    assert len(store.search_hits("otter", mode=Mode.SEMANTIC, query_vector=vec)) == 2
    store.close()


def test_two_entries_with_the_same_text_both_get_the_ready_vector(store: MemoryStore) -> None:
    put(store, "same words", ts=1)
    append_entry(store, key_from(2), timestamp_ms=2, body="same words")
    assert store.vector_count() == 2 and store.unembedded(10) == []


def test_a_filtered_semantic_search_scans_only_matching_rows(store: MemoryStore) -> None:
    from gateway.memory.spaces import Space

    store.set_space(Space("work", all_contacts=False))
    put(store, "quarterly budget plan", ts=10, space="work")
    put(store, "quarterly budget plan draft", ts=20)
    put(store, "quarterly budget plan final", ts=30, seed=2)
    vec = vector_of(store, "budget plan")

    def found(**kw: object) -> int:
        f = Filters(**kw)  # type: ignore[arg-type]
        return len(store.search_hits("budget", mode=Mode.SEMANTIC, query_vector=vec, filters=f))

    assert found() == 3
    assert found(space="work") == 1 and found(space="nowhere") == 0
    assert found(author=pub(key_from(2))) == 1 and found(author=b"\x00" * 32) == 0
    assert found(since_ms=20) == 2 and found(until_ms=20) == 2 and found(since_ms=31) == 0


def test_suppressed_entries_leave_every_search_and_recent(store: MemoryStore) -> None:
    a = put(store, "lighthouse keeper notes", ts=1)
    b = put(store, "lighthouse lamp repair", ts=2, seed=2)
    vec = vector_of(store, "lighthouse")
    assert store.suppress(a, "circle:abcd") is True
    assert store.suppress(a, "circle:abcd") is False
    assert store.suppressed(a) == "circle:abcd" and store.suppressed(b) is None
    for mode in Mode:
        hits = store.search_hits("lighthouse", mode=mode, query_vector=vec)
        assert [h.entry.id for h in hits] == [b], mode
    assert [e.id for e in store.recent()] == [b]
    assert store.get(a) is not None  # still stored: the author's chain stays whole


def test_keyword_search_matches_word_forms(store: MemoryStore) -> None:
    put(store, "she drinks green teas", ts=1)
    assert len(store.search("drink tea")) == 1


def test_a_store_from_the_previous_schema_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    store = MemoryStore(path, embedder=BagOfWords())
    put(store, "walking boots", ts=1)
    store.close()
    db = sqlite3.connect(path)  # as the previous version wrote it: no stemming, no bits
    db.executescript(
        "DROP TABLE entries_fts; CREATE VIRTUAL TABLE entries_fts USING fts5 (body, topic, tags);"
        "INSERT INTO entries_fts (rowid, body, topic, tags) SELECT rowid, 'walking boots', '', ''"
        " FROM entries; CREATE TABLE v2 (rowid INTEGER PRIMARY KEY, model TEXT NOT NULL,"
        " vec BLOB NOT NULL); INSERT INTO v2 SELECT rowid, model, vec FROM entry_vectors;"
        "DROP TABLE entry_vectors; ALTER TABLE v2 RENAME TO entry_vectors;"
    )
    db.close()
    store = MemoryStore(path, embedder=BagOfWords())
    assert len(store.search("walk boot")) == 1
    vec = vector_of(store, "walking boots")
    hits = store.search_hits("walking", mode=Mode.SEMANTIC, query_vector=vec)
    assert len(hits) == 1 and hits[0].similarity == pytest.approx(1.0)
    store.close()


def _signed(store: MemoryStore, body: str, *, ts: int, seed: int = 1) -> Entry:
    from gateway.memory.entry import sign_entry

    head = store.head("default", pub(key_from(seed)))
    seq, prev = (head[0] + 1, head[1]) if head else (1, bytes(32))
    return sign_entry(key_from(seed), seq=seq, prev=prev, timestamp_ms=ts, space="default",
                      body=body)  # fmt: skip


def test_sign_bits_pack_one_bit_per_dimension() -> None:
    v = np.array([1, -1, 0.5, -0.2, 0, 0, 0, 2, -1], dtype=np.float32)
    assert vecindex.sign_bits(v) == bytes([0b10000101, 0]) + bytes(6)


def test_a_query_vector_of_the_wrong_size_is_a_store_error(store: MemoryStore) -> None:
    from gateway.errors import StoreError

    put(store, "x", ts=1)
    with pytest.raises(StoreError, match="dimensions"):
        store.search_hits("x", mode=Mode.SEMANTIC, query_vector=np.zeros(3, np.float32))


def test_a_word_most_entries_hold_is_left_out_when_rarer_ones_remain(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.memory.store as store_module

    monkeypatch.setattr(store_module, "COMMON_FROM", 10)
    for i in range(20):
        append_entry(store, key_from(1), timestamp_ms=i + 1, body=f"meeting notes {i}")
    append_entry(store, key_from(1), timestamp_ms=99, body="budget review")
    assert store._selective(["meeting", "budget"]) == ["budget"]
    found = store.search("meeting budget")
    assert [e.body for e in found] == ["budget review"]  # not 21 hits to score
    assert len(store.search("meeting notes")) == 20  # nothing rarer: the two rarest
    assert store._selective(["budget"]) == ["budget"]
