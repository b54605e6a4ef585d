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
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gateway.errors import EmbeddingError, GatewayError
from gateway.memory.store import MemoryStore
from gateway.node import memtrim

if TYPE_CHECKING:
    from gateway.memory.embed import Embedder, Vectors

log = logging.getLogger(__name__)

#: entries embedded per batch (and per transaction)
BATCH = 32
#: seconds without any embedding after which the model's pages are handed back (an idle
#: node's resident memory then does not count the model's ~40 MB of mapped weights)
RELEASE_AFTER = 60.0


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
        #: when the model was last used (monotonic), if it holds pages now
        self._last_use: float | None = None
        #: how many times the model's pages were handed back
        self.releases = 0
        store.on_unembedded = self._wake.set

    async def vectors(self, texts: Sequence[str]) -> Vectors:
        """Vectors of ``texts``, computed in a worker (EmbeddingError if the model fails)."""
        if self._last_use is None:
            self._wake.set()  # the loop now has the model's pages to hand back later
        self._last_use = time.monotonic()
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
            try:
                await asyncio.wait_for(self._wake.wait(), self._release_in())
            except TimeoutError:
                self._release_if_idle()
                continue
            self._wake.clear()
            try:
                await self.backfill()
            except GatewayError as exc:
                log.warning("memory: embedding stopped: %s", exc)

    def _release_in(self) -> float | None:
        if self._last_use is None:
            return None
        return max(0.0, self._last_use + RELEASE_AFTER - time.monotonic())

    def _release_if_idle(self) -> None:
        """Hand the model's pages back once it has been idle for RELEASE_AFTER seconds."""
        if self._last_use is None or time.monotonic() - self._last_use < RELEASE_AFTER:
            return
        self._last_use = None
        release = getattr(self.embedder, "release", None)
        if callable(release):
            release()
            self.releases += 1
        memtrim.trim()

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
