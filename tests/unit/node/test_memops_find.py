"""MemoryService.find: the query embedded in a worker while the keyword ranking runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from gateway.errors import EmbeddingError
from gateway.memory.embed import Vectors
from gateway.memory.ranking import Filters, Mode
from gateway.memory.store import MemoryStore
from gateway.node.indexer import Indexer
from gateway.node.memops import MemoryService
from tests.unit.memory.fake_embedder import BagOfWords

from .memnet import Net, Node, make_node


class Broken(BagOfWords):
    """Embeds entries, then fails on every query once ``broken`` is set."""

    broken = False

    def embed(self, texts: Sequence[str]) -> Vectors:
        if self.broken:
            raise EmbeddingError("the model fell over")
        return super().embed(texts)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return make_node(Net(), tmp_path, 1, store=str(tmp_path / "memory.db"))


@pytest.fixture
def svc(tmp_path: Path, node: Node) -> Iterator[MemoryService]:
    embedder = Broken()
    store = MemoryStore(tmp_path / "search.db", embedder=embedder)
    yield MemoryService(store, node.key, node.sync, indexer=Indexer(store, embedder))
    store.close()


async def write(svc: MemoryService, body: str, **kw: object) -> bytes:
    return (await svc.write(body, **kw)).id  # type: ignore[arg-type]


async def test_hybrid_finds_by_words_and_by_meaning_as_the_store_does(svc: MemoryService) -> None:
    fox = await write(svc, "red fox den")
    owl = await write(svc, "owl nest fox")
    await write(svc, "nothing alike", topic="misc")
    mode, hits = await svc.find("fox den")
    assert mode is Mode.HYBRID and [h.entry.id for h in hits][:2] == [fox, owl]
    assert hits[0].keyword_rank == 1 and hits[0].semantic_rank == 1
    assert svc.indexer is not None
    vector = (await svc.indexer.vectors(["fox den"]))[0]
    direct = svc.store.search_hits("fox den", query_vector=vector)
    assert [(h.entry.id, h.score) for h in hits] == [(h.entry.id, h.score) for h in direct]


async def test_filters_reach_both_rankings(svc: MemoryService) -> None:
    await write(svc, "red fox den", topic="animals")
    await write(svc, "fox den map", topic="maps")
    _, hits = await svc.find("fox den", filters=Filters(topic="maps"))
    assert [h.entry.topic for h in hits] == ["maps"]


async def test_a_failing_model_turns_hybrid_into_keyword_and_semantic_into_an_error(
    svc: MemoryService,
) -> None:
    fox = await write(svc, "red fox den")
    assert isinstance(svc.store.embedder, Broken)
    svc.store.embedder.broken = True
    mode, hits = await svc.find("fox")
    assert mode is Mode.KEYWORD and [h.entry.id for h in hits] == [fox]
    with pytest.raises(EmbeddingError, match="fell over"):
        await svc.find("fox", mode=Mode.SEMANTIC)
