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


def test_the_sign_bit_scan_finds_what_the_exact_scan_finds(tmp_path: Path) -> None:
    embedder = BagOfWords(dim=128)
    store = MemoryStore(tmp_path / "m.db", embedder=embedder)
    if not store._bits:
        pytest.skip("sqlite-vec cannot be loaded by this Python")  # pragma: no cover
    words = [f"w{i}" for i in range(60)]
    rng = np.random.default_rng(7)
    for i in range(300):
        put(store, " ".join(rng.choice(words, 4)), ts=i + 1)
    for q in range(10):
        text = " ".join(rng.choice(words, 3))
        vec = vector_of(store, text)
        fast = store.search_hits(text, mode=Mode.SEMANTIC, query_vector=vec, limit=5)
        exact = store.search_hits(
            text, mode=Mode.SEMANTIC, query_vector=vec, limit=5, filters=Filters(since_ms=0)
        )
        assert [h.entry.id for h in fast][:3] == [h.entry.id for h in exact][:3], q
    store.close()


def test_sign_bits_pack_one_bit_per_dimension() -> None:
    v = np.array([1, -1, 0.5, -0.2, 0, 0, 0, 2, -1], dtype=np.float32)
    assert vecindex.sign_bits(v) == bytes([0b10000101, 0])


def test_a_query_vector_of_the_wrong_size_is_a_store_error(store: MemoryStore) -> None:
    from gateway.errors import StoreError

    put(store, "x", ts=1)
    with pytest.raises(StoreError, match="dimensions"):
        store.search_hits("x", mode=Mode.SEMANTIC, query_vector=np.zeros(3, np.float32))
