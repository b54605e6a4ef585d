"""Embedding for the memory store, off the event loop.

A write from this node has its vector computed in a worker thread first, then the
entry and its vector are stored in one transaction. Entries that arrive by sync are
stored at once (the link's handler must not wait for a model) and embedded right
after by :meth:`Indexer.run`, in batches, each batch in one transaction; the same
loop embeds again every entry after a change of model. Vectors are never sent to
peers: each node computes its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from gateway.errors import EmbeddingError, GatewayError
from gateway.memory.embed import Embedder, Vectors
from gateway.memory.store import MemoryStore

log = logging.getLogger(__name__)

#: entries embedded per batch (and per transaction)
BATCH = 32


class Indexer:
    """Computes vectors in a worker thread and hands them to the store."""

    def __init__(self, store: MemoryStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        #: entries embedded after their write (sync, model change)
        self.backfilled = 0
        #: why the model could not be used, if it could not
        self.error: str | None = None
        self._wake = asyncio.Event()
        self._wake.set()  # a first pass at start: entries left from before
        store.on_unembedded = self._wake.set

    async def vectors(self, texts: Sequence[str]) -> Vectors:
        """Vectors of ``texts``, computed in a worker (EmbeddingError if the model fails)."""
        try:
            return await asyncio.to_thread(self.embedder.embed, list(texts))
        except EmbeddingError as exc:
            self.error = str(exc)
            raise
        except (ValueError, RuntimeError, MemoryError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            raise EmbeddingError(f"the embedding model failed: {exc}") from exc

    async def prepare(self, texts: Sequence[str]) -> None:
        """Compute the vectors of entries about to be written (see ``provide_vectors``)."""
        self.store.provide_vectors(texts, await self.vectors(texts))

    def pending(self) -> int:
        """Entries waiting for their vector (at most one batch is counted)."""
        return len(self.store.unembedded(BATCH))

    async def run(self) -> None:
        """Embed entries stored without a vector, whenever there are some."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.backfill()
            except GatewayError as exc:
                log.warning("memory: embedding stopped: %s", exc)

    async def backfill(self) -> int:
        """Embed every entry that has no vector yet; how many were."""
        done = 0
        while batch := self.store.unembedded(BATCH):
            vectors = await self.vectors([text for _, text in batch])
            done += self.store.add_vectors(
                (rowid, vector) for (rowid, _), vector in zip(batch, vectors, strict=True)
            )
            self.backfilled += len(batch)
        self.error = None
        return done
