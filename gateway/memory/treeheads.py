"""Signed tree head exchange: sign ours, check the peer's against the last one seen."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.memory import merkle
from gateway.memory.events import Event, SplitViewDetected, TreeHeadAccepted
from gateway.memory.merkle import SignedTreeHead
from gateway.memory.messages import ConsistencyRequest, Message, TreeHead
from gateway.memory.store import MemoryStore

SEEN = "seen"
SENT = "sent"
OWN = "own"


def own_tree_head(store: MemoryStore, key: Ed25519PrivateKey, now_ms: int) -> SignedTreeHead:
    """Sign the current log and record it as our own latest STH."""
    sth = merkle.sign_tree_head(key, store.log_size(), store.tree_root(), now_ms)
    store.record_tree_head(sth.signer, OWN, sth)
    return sth


def tree_head_message(
    store: MemoryStore, sth: SignedTreeHead, peer: bytes, from_size: int | None = None
) -> TreeHead:
    """Our STH with a consistency proof from the size the peer last got from us."""
    if from_size is None:
        sent = store.tree_head(peer, SENT)
        from_size = sent.size if sent is not None and sent.size <= sth.size else 0
    proof = store.consistency_proof(from_size, sth.size) if from_size <= sth.size else []
    store.record_tree_head(peer, SENT, sth)
    return TreeHead(sth, from_size, tuple(proof))


def check_tree_head(
    store: MemoryStore, peer: bytes, msg: TreeHead
) -> tuple[list[Message], list[Event]]:
    """Check a received STH against the last one seen from ``peer``."""
    new = msg.sth
    if new.signer != peer or not new.verify():
        store.count_rejection("bad_tree_head")
        return [], []
    seen = store.tree_head(peer, SEEN)
    if seen is None:
        return _accept(store, peer, new)
    if new.size < seen.size:
        return _split(store, peer, seen, new, "log shrank")
    if new.size == seen.size:
        if new.root != seen.root:
            return _split(store, peer, seen, new, "same size, different root")
        return _accept(store, peer, new)
    if msg.from_size != seen.size:
        return [ConsistencyRequest(seen.size)], []
    if not merkle.verify_consistency(seen.size, new.size, seen.root, new.root, msg.proof):
        return _split(store, peer, seen, new, "consistency proof failed")
    return _accept(store, peer, new)


def _accept(
    store: MemoryStore, peer: bytes, sth: SignedTreeHead
) -> tuple[list[Message], list[Event]]:
    store.record_tree_head(peer, SEEN, sth)
    return [], [TreeHeadAccepted(peer, sth)]


def _split(
    store: MemoryStore, peer: bytes, seen: SignedTreeHead, new: SignedTreeHead, why: str
) -> tuple[list[Message], list[Event]]:
    store.count_rejection("split_view")
    return [], [SplitViewDetected(peer, seen, new, why)]
