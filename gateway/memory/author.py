"""Writing our own entries: the next link of our chain in a space."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.memory.entry import ZERO_HASH, Entry, Kind, public_bytes, sign_entry
from gateway.memory.spaces import DEFAULT_SPACE
from gateway.memory.store import MemoryStore


def append_entry(
    store: MemoryStore,
    key: Ed25519PrivateKey,
    *,
    timestamp_ms: int,
    body: str = "",
    space: str = DEFAULT_SPACE,
    topic: str = "",
    tags: Iterable[str] = (),
    metadata: Mapping[str, object] | None = None,
    kind: Kind = Kind.NOTE,
    target: bytes = ZERO_HASH,
) -> Entry:
    """Sign the next entry of ``key``'s chain in ``space`` and store it."""
    head = store.head(space, public_bytes(key.public_key()))
    seq, prev = (head[0] + 1, head[1]) if head else (1, ZERO_HASH)
    entry = sign_entry(
        key,
        seq=seq,
        prev=prev,
        timestamp_ms=timestamp_ms,
        space=space,
        body=body,
        topic=topic,
        tags=tags,
        metadata=metadata,
        kind=kind,
        target=target,
    )
    store.insert(entry)
    return entry


def supersede(
    store: MemoryStore, key: Ed25519PrivateKey, target: Entry, *, timestamp_ms: int, body: str
) -> Entry:
    """A new entry that replaces ``target`` (same author only takes effect)."""
    return append_entry(
        store, key, timestamp_ms=timestamp_ms, body=body, space=target.space,
        topic=target.topic, tags=target.tags, kind=Kind.SUPERSEDE, target=target.id,
    )  # fmt: skip


def tombstone(
    store: MemoryStore, key: Ed25519PrivateKey, target: Entry, *, timestamp_ms: int
) -> Entry:
    """A new entry that deletes ``target`` from the live view."""
    return append_entry(
        store, key, timestamp_ms=timestamp_ms, space=target.space,
        kind=Kind.TOMBSTONE, target=target.id,
    )  # fmt: skip
