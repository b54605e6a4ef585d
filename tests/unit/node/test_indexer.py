"""The indexer: vectors computed in a worker, before a write or after a sync."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from gateway.errors import EmbeddingError
from gateway.memory.author import append_entry
from gateway.memory.embed import Vectors
from gateway.memory.ranking import Mode
from gateway.memory.store import MemoryStore
from gateway.node.indexer import BATCH, Indexer
from tests.unit.memory.fake_embedder import BagOfWords
from tests.unit.memory.helpers import key_from


class ThreadRecording(BagOfWords):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.threads.add(threading.get_ident())
        return super().embed(texts)


async def test_vectors_are_computed_off_the_event_loop() -> None:
    embedder = ThreadRecording()
    indexer = Indexer(MemoryStore(":memory:", embedder=embedder), embedder)
    await indexer.vectors(["a"])
    assert embedder.threads and threading.get_ident() not in embedder.threads


async def test_backfill_embeds_entries_that_arrived_without_vectors() -> None:
    embedder = BagOfWords()
    store = MemoryStore(":memory:", embedder=embedder)
    indexer = Indexer(store, embedder)
    for i in range(BATCH + 5):  # as sync stores them: no vector ready
        append_entry(store, key_from(1), timestamp_ms=i + 1, body=f"otter {i}")
    assert indexer.pending() == BATCH
    task = asyncio.create_task(indexer.run())
    try:
        for _ in range(200):  # bounded: the run loop embeds in two batches
            if store.vector_count() == BATCH + 5:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert store.vector_count() == BATCH + 5 and indexer.pending() == 0
    assert indexer.backfilled == BATCH + 5
    vec = embedder.embed(["otter 3"])[0]
    hits = store.search_hits("otter 3", mode=Mode.SEMANTIC, query_vector=vec)
    assert hits[0].entry.body == "otter 3"


class Broken(BagOfWords):
    def embed(self, texts: Sequence[str]) -> Vectors:
        raise RuntimeError("out of cheese")


async def test_a_failing_model_is_an_embedding_error_and_is_reported() -> None:
    embedder = Broken()
    indexer = Indexer(MemoryStore(":memory:", embedder=embedder), embedder)
    with pytest.raises(EmbeddingError, match="out of cheese"):
        await indexer.vectors(["a"])
    assert indexer.error is not None and "out of cheese" in indexer.error


async def test_prepare_hands_the_vector_to_the_next_write() -> None:
    embedder = BagOfWords()
    store = MemoryStore(":memory:", embedder=embedder)
    indexer = Indexer(store, embedder)
    await indexer.prepare(["heron"])
    append_entry(store, key_from(1), timestamp_ms=1, body="heron")
    assert store.vector_count() == 1 and indexer.pending() == 0
    assert np.allclose(
        store.search_hits("heron", mode=Mode.SEMANTIC, query_vector=embedder.embed(["heron"])[0])[
            0
        ].similarity
        or 0.0,
        1.0,
        atol=1e-5,
    )


async def test_the_model_hands_its_pages_back_after_a_quiet_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gateway.node.indexer as indexer_module

    class Releasing(BagOfWords):
        released = 0

        def release(self) -> None:
            self.released += 1

    monkeypatch.setattr(indexer_module, "RELEASE_AFTER", 0.05)
    embedder = Releasing()
    store = MemoryStore(":memory:", embedder=embedder)
    indexer = Indexer(store, embedder)
    task = asyncio.create_task(indexer.run())
    try:
        await asyncio.sleep(0.15)
        assert embedder.released == 0  # never used: nothing to hand back
        await indexer.vectors(["one"])
        for _ in range(100):  # bounded: 100 x 20 ms
            if embedder.released:
                break
            await asyncio.sleep(0.02)
        assert embedder.released == 1 and indexer.releases == 1
        await asyncio.sleep(0.15)
        assert embedder.released == 1  # once per use, not on every timeout
    finally:
        task.cancel()
        store.close()
