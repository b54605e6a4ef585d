"""The node's memory as the API and CLI use it: write, read, search, sync, verify."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import EmbeddingError, EntryError, StoreError
from gateway.memory.author import append_entry
from gateway.memory.entry import Entry, Kind, public_bytes
from gateway.memory.hub import SyncFinished
from gateway.memory.ranking import NO_FILTERS, Filters, Mode, SearchHit
from gateway.memory.spaces import DEFAULT_SPACE
from gateway.memory.store import MemoryStore, text_to_embed
from gateway.memory.verify import verify_file, verify_store
from gateway.node.indexer import Indexer
from gateway.node.memsync import MemorySync

MAX_LIST = 1000
log = logging.getLogger(__name__)


def entry_json(entry: Entry) -> dict[str, Any]:
    """An entry as JSON: hex ids and keys, the kind by name, metadata as an object."""
    return {
        "id": entry.id.hex(),
        "author": entry.author.hex(),
        "seq": entry.seq,
        "prev": entry.prev.hex(),
        "timestamp_ms": entry.timestamp_ms,
        "kind": entry.kind.name.lower(),
        "target": entry.target.hex() if entry.kind is not Kind.NOTE else None,
        "space": entry.space,
        "topic": entry.topic,
        "tags": list(entry.tags),
        "body": entry.body,
        "metadata": entry.metadata_obj,
    }


def parse_id(text: str) -> bytes:
    """A 64-hex-digit entry id; EntryError otherwise."""
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise EntryError("malformed", f"an entry id is 64 hex digits, not {text[:80]!r}")
    return raw


#: the shortest id prefix taken (the CLI prints 16 hex digits)
MIN_PREFIX = 8
_HEX = frozenset("0123456789abcdef")


def id_range(text: str) -> tuple[bytes, bytes]:
    """The lowest and highest 32-byte ids that start with hex ``text`` (8 to 64 digits)."""
    prefix = text.lower()
    if not MIN_PREFIX <= len(prefix) <= 64 or not set(prefix) <= _HEX:
        raise EntryError(
            "malformed", f"an entry id is 8 to 64 hex digits (a prefix), not {text[:80]!r}"
        )
    pad = 64 - len(prefix)
    return bytes.fromhex(prefix + "0" * pad), bytes.fromhex(prefix + "f" * pad)


class MemoryService:
    """Our memory: the store, our signing key, and the sync that spreads what we write."""

    def __init__(
        self,
        store: MemoryStore,
        key: Ed25519PrivateKey,
        sync: MemorySync,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        *,
        indexer: Indexer | None = None,
    ) -> None:
        self.store = store
        #: embeds entries and queries for search by meaning (None: keyword search only)
        self.indexer = indexer
        self.key = key
        self.sync = sync
        self.clock_ms = clock_ms
        self.author = public_bytes(key.public_key())

    def put(
        self,
        body: str,
        *,
        space: str = DEFAULT_SPACE,
        topic: str = "",
        tags: Sequence[str] = (),
        metadata: Mapping[str, object] | None = None,
        supersedes: bytes | None = None,
    ) -> Entry:
        """Write a note (or, with ``supersedes``, a new version of one of ours)."""
        self._check_not_just_restored()
        if self.store.space(space) is None:
            raise EntryError("wrong_space", f"no space named {space!r} (see memory.spaces)")
        kind, target = Kind.NOTE, bytes(32)
        if supersedes is not None:
            old = self._own(supersedes)
            kind, target, space = Kind.SUPERSEDE, old.id, old.space
        entry = append_entry(
            self.store, self.key, timestamp_ms=self._now(space), body=body, space=space,
            topic=topic, tags=tags, metadata=metadata, kind=kind, target=target,
        )  # fmt: skip
        self.sync.wrote(entry.space)
        return entry

    async def write(
        self,
        body: str,
        *,
        space: str = DEFAULT_SPACE,
        topic: str = "",
        tags: Sequence[str] = (),
        metadata: Mapping[str, object] | None = None,
        supersedes: bytes | None = None,
    ) -> Entry:
        """:meth:`put`, with the entry's vector computed first in a worker and stored in
        the same transaction (if the model fails, the entry is stored without one and
        embedded later)."""
        if self.indexer is not None:
            try:
                await self.indexer.prepare([text_to_embed(topic, tags, body)])
            except EmbeddingError as exc:
                log.warning("memory: entry written without its vector for now: %s", exc)
        return self.put(
            body, space=space, topic=topic, tags=tags, metadata=metadata, supersedes=supersedes
        )

    def delete(self, entry_id: bytes) -> Entry:
        """Write a tombstone for one of our entries."""
        self._check_not_just_restored()
        old = self._own(entry_id)
        entry = append_entry(
            self.store, self.key, timestamp_ms=self._now(old.space), space=old.space,
            kind=Kind.TOMBSTONE, target=old.id,
        )  # fmt: skip
        self.sync.wrote(entry.space)
        return entry

    def resolve(self, text: str) -> bytes:
        """The entry whose id is, or starts with, hex ``text`` (as ``memory list`` prints it).

        StoreError when none does; EntryError ``ambiguous`` naming the candidates when
        several do."""
        low, high = id_range(text)
        found = self.store.ids_between(low, high, 6)
        if not found:
            raise StoreError(f"no entry {text.lower()}")
        if len(found) > 1:
            shown = ", ".join(i.hex()[:16] for i in found[:5])
            raise EntryError(
                "ambiguous", f"{len(found) if len(found) < 6 else 'many'} entries start with "
                f"{text.lower()} ({shown}): give more digits",
            )  # fmt: skip
        return found[0]

    def get(self, entry_id: bytes) -> dict[str, Any]:
        """An entry and, if its author replaced or deleted it, the replacing entry."""
        entry = self.store.get(entry_id)
        if entry is None:
            raise StoreError(f"no entry {entry_id.hex()}")
        replaced = self.store.replaced_by(entry_id)
        return {**entry_json(entry), "replaced_by": replaced.id.hex() if replaced else None}

    def recent(
        self, *, space: str | None = None, limit: int = 50, before_ms: int | None = None
    ) -> list[Entry]:
        """Live entries, newest first."""
        return self.store.recent(space=space, limit=min(limit, MAX_LIST), before_ms=before_ms)

    def search(self, text: str, *, space: str | None = None, limit: int = 20) -> list[Entry]:
        """Live entries matching words of ``text`` (keyword search, BM25)."""
        return self.store.search(text, space=space, limit=min(limit, MAX_LIST))

    async def find(
        self,
        text: str,
        *,
        mode: Mode = Mode.HYBRID,
        filters: Filters = NO_FILTERS,
        limit: int = 20,
    ) -> tuple[Mode, list[SearchHit]]:
        """(the mode used, hits): search by words, meaning or both.

        With search by meaning off or its model unusable, ``semantic`` raises
        EmbeddingError and ``hybrid`` falls back to ``keyword`` (the mode returned says so).
        """
        limit = min(limit, MAX_LIST)
        vector = None
        keyword = None
        if mode is not Mode.KEYWORD:
            if self.indexer is None:
                if mode is Mode.SEMANTIC:
                    raise EmbeddingError("search by meaning is off (memory.semantic: false)")
                mode = Mode.KEYWORD
            else:
                # the query is embedded in a worker while the keyword ranking runs here
                embedding = asyncio.ensure_future(self.indexer.vectors([text]))
                if mode is Mode.HYBRID:
                    try:
                        keyword = self.store.keyword_ranking(text, filters=filters, limit=limit)
                    except BaseException:
                        embedding.cancel()
                        raise
                try:
                    vector = (await embedding)[0]
                except EmbeddingError:
                    if mode is Mode.SEMANTIC:
                        raise
                    mode = Mode.KEYWORD
        hits = self.store.search_hits(
            text, mode=mode, filters=filters, limit=limit, query_vector=vector, keyword=keyword
        )
        return mode, hits

    async def sync_now(self, timeout: float) -> list[SyncFinished]:
        """Sync with every online contact now."""
        return await self.sync.sync_all(timeout)

    async def verify(self) -> dict[str, Any]:
        """Check every signature, chain link and the log; the report as JSON.

        A store kept in a file is read in a worker thread from a snapshot of its own.
        """
        if str(self.store.path) == ":memory:":
            report = verify_store(self.store, node_key=self.author)
        else:
            path = Path(self.store.path)
            report = await asyncio.to_thread(verify_file, path, node_key=self.author)
        return {
            "ok": report.ok,
            "entries": report.entries,
            "bad_signatures": [i.hex() for i in report.bad_signatures],
            "broken_links": [i.hex() for i in report.broken_links],
            "log_problems": report.log_problems,
            "split_views": self.sync.split_views,
        }

    def stats(self) -> dict[str, Any]:
        """Counts per space, held entries, rejections by reason and sync counters."""
        return {
            "entries": self.store.count(),
            "spaces": {
                s.name: {"entries": self.store.count(s.name), "shared_with_all": s.all_contacts}
                for s in self.store.spaces()
            },
            "held": self.store.held_count(),
            "log_size": self.store.log_size(),
            "rejections": self.store.rejection_counts(),
            "sync": dict(self.sync.counters),
            "embedding": self.embedding_stats(),
            "last_sync": {p.hex(): t for p, t in self.sync.last_sync.items()},
        }

    def embedding_stats(self) -> dict[str, Any]:
        """The model, how many entries have a vector, and how many wait for one."""
        if self.indexer is None:
            return {"enabled": False}
        return {
            "enabled": True,
            "model": self.indexer.embedder.name,
            "dim": self.indexer.embedder.dim,
            "vectors": self.store.vector_count(),
            "waiting": self.indexer.pending(),
            "error": self.indexer.error,
        }

    def _check_not_just_restored(self) -> None:
        marker = self.sync.restored_marker
        if marker is not None and marker.exists():
            raise StoreError(
                "this node was restored from a backup and has not synced memory since: entries "
                "it wrote after the backup may exist at its contacts, so a write now could fork "
                f"its chain. Run `gateway memory sync` with a contact online (or delete {marker})"
            )

    def _own(self, entry_id: bytes) -> Entry:
        entry = self.store.get(entry_id)
        if entry is None:
            raise StoreError(f"no entry {entry_id.hex()}")
        if entry.author != self.author:
            raise EntryError("malformed", "only the author of an entry can replace or delete it")
        return entry

    def _now(self, space: str) -> int:
        """Now, but never before our previous entry in ``space`` (clocks can step back)."""
        head = self.store.heads(space).get(self.author)
        previous = self.store.get(head[1]) if head else None
        return max(self.clock_ms(), previous.timestamp_ms if previous else 0)
