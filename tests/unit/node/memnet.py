"""An in-process network of MemorySync nodes: fake links that deliver on the event loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.config.schema import MemoryConfig
from gateway.contacts.book import ContactBook
from gateway.memory.entry import public_bytes
from gateway.memory.hub import SyncHub
from gateway.memory.store import MemoryStore
from gateway.node.memsync import CHANNEL, MemorySync


class Clock:
    """A fake monotonic clock (seconds)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Net:
    """Which nodes are linked; messages go through ``loop.call_soon`` in order."""

    nodes: dict[bytes, FakeLinks] = field(default_factory=dict)
    up: set[frozenset[bytes]] = field(default_factory=set)
    delivered: int = 0

    def connect(self, a: Node, b: Node, *, dialer: Node | None = None) -> None:
        self.up.add(frozenset({a.pub, b.pub}))
        for n in (a, b):
            other = b if n is a else a
            n.sync.on_link(other.pub, True, dialer is n)

    def disconnect(self, a: Node, b: Node) -> None:
        self.up.discard(frozenset({a.pub, b.pub}))
        a.sync.on_link(b.pub, False, False)
        b.sync.on_link(a.pub, False, False)

    def linked(self, a: bytes, b: bytes) -> bool:
        return frozenset({a, b}) in self.up


@dataclass
class FakeLinks:
    """The ``Links`` protocol over a :class:`Net`."""

    net: Net
    me: bytes
    sync: MemorySync | None = None
    sent: list[tuple[bytes, str, bytes]] = field(default_factory=list)
    refuse_sends: bool = False

    def online(self) -> list[bytes]:
        return [p for p in self.net.nodes if p != self.me and self.net.linked(self.me, p)]

    def send_now(self, contact: bytes, channel: str, body: bytes) -> bool:
        if self.refuse_sends or not self.net.linked(self.me, contact):
            return False
        self.sent.append((contact, channel, body))
        asyncio.get_running_loop().call_soon(self._deliver, contact, channel, body)
        return True

    def _deliver(self, contact: bytes, channel: str, body: bytes) -> None:
        if not self.net.linked(self.me, contact):
            return  # lost with the link
        assert channel == CHANNEL
        other = self.net.nodes[contact]
        assert other.sync is not None
        self.net.delivered += 1
        for reply in other.sync.handler(self.me, body):
            other.send_now(self.me, channel, reply)


@dataclass
class Node:
    key: Ed25519PrivateKey
    store: MemoryStore
    links: FakeLinks
    sync: MemorySync
    book: ContactBook
    clock: Clock

    @property
    def pub(self) -> bytes:
        return public_bytes(self.key.public_key())

    def ids(self, space: str | None = None) -> set[bytes]:
        return {e.id for _, e in self.store.all_entries() if space in (None, e.space)}


def make_node(
    net: Net, folder: Path, seed: int, cfg: MemoryConfig | None = None, *, store: str = ""
) -> Node:
    key = Ed25519PrivateKey.from_private_bytes(seed.to_bytes(32, "big"))
    me = public_bytes(key.public_key())
    folder.mkdir(parents=True, exist_ok=True)
    mem = MemoryStore(store or ":memory:")
    book = ContactBook.open(folder / f"book-{seed}.db", me)
    clock = Clock()
    links = FakeLinks(net, me)
    hub = SyncHub(mem, key, lambda: int(clock() * 1000))
    cfg = cfg or MemoryConfig()
    sync = MemorySync(hub, links, book, cfg, clock=clock)
    sync._next_round = clock() + cfg.sync_interval  # as run() does: no round due yet
    links.sync = sync
    net.nodes[me] = links
    return Node(key, mem, links, sync, book, clock)


async def settle(net: Net, rounds: int = 2000) -> None:
    """Let every queued delivery (and the replies it causes) run."""
    for _ in range(rounds):
        before = net.delivered
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        if net.delivered == before:
            return
    raise AssertionError("the network did not go quiet")
