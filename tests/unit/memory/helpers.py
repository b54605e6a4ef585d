"""Shared helpers of the memory tests: keys, stores and a direct wiring of sync sessions."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.memory.author import append_entry
from gateway.memory.entry import public_bytes
from gateway.memory.events import Event
from gateway.memory.store import MemoryStore
from gateway.memory.sync import SyncSession


def key_from(seed: int) -> Ed25519PrivateKey:
    """A deterministic Ed25519 key."""
    return Ed25519PrivateKey.from_private_bytes(seed.to_bytes(32, "big"))


def pub(key: Ed25519PrivateKey) -> bytes:
    return public_bytes(key.public_key())


def fill(store: MemoryStore, key: Ed25519PrivateKey, n: int, *, start_ts: int = 1000) -> None:
    """Append ``n`` notes by ``key`` to the default space."""
    for i in range(n):
        append_entry(store, key, timestamp_ms=start_ts + i, body=f"note {i}", tags=[f"t{i % 3}"])


@dataclass
class Node:
    store: MemoryStore
    key: Ed25519PrivateKey

    @property
    def pub(self) -> bytes:
        return pub(self.key)


@dataclass
class SyncRun:
    turns: int
    bytes_sent: int
    events_a: list[Event]
    events_b: list[Event]
    a: SyncSession
    b: SyncSession

    @property
    def round_trips(self) -> int:
        return (self.turns + 1) // 2


def run_sync(
    a: Node, b: Node, *, now_ms: int = 10_000, max_turns: int = 100, max_messages: int | None = None
) -> SyncRun:
    """Run one session (a initiates) until no message is in flight; a turn is one side's batch.

    With ``max_messages``, the link drops after that many messages were delivered.
    """
    sa = SyncSession(a.store, node_key=a.key, peer=b.pub, initiator=True, now_ms=now_ms)
    sb = SyncSession(b.store, node_key=b.key, peer=a.pub, initiator=False, now_ms=now_ms)
    in_flight = sa.start()
    sides = [sb, sa]
    turns = 0
    sent = 0
    delivered = 0
    while in_flight and turns < max_turns:
        turns += 1
        receiver = sides[(turns - 1) % 2]
        replies: list[bytes] = []
        for msg in in_flight:
            if max_messages is not None and delivered >= max_messages:
                return SyncRun(turns, sent, sa.events(), sb.events(), sa, sb)
            delivered += 1
            sent += len(msg)
            replies += receiver.receive(msg)
        in_flight = replies
    return SyncRun(turns, sent, sa.events(), sb.events(), sa, sb)
