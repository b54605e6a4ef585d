"""A link that looks open but whose peer is gone: the liveness probe and the tie-break.

When a contact's node crashes or restarts, tor may report its old stream closed only
much later (up to a minute on the private network). If that contact then dials again,
the tie-break could keep the dead link and drop every new one; the manager first asks
the old link for an answer (``PeerLink.answers``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.config.levels import POLICIES
from gateway.config.schema import Level, PaddingMode
from gateway.contacts.book import ContactBook
from gateway.link import manager as manager_mod
from gateway.link.channels import ChannelRegistry, LinkMux, Outgoing
from gateway.link.local import LocalNode
from gateway.link.manager import LinkManager
from gateway.link.messages import encode
from gateway.link.peerlink import PeerLink
from gateway.link.protocol import Role
from gateway.session.ratchet import RatchetParams
from gateway.session.session import SessionOptions
from gateway.storage.db import apply_migrations, open_db

# --- PeerLink.answers ---------------------------------------------------------------------


@dataclass
class Pacer:
    """Takes what the link writes."""

    written: list[bytes] = field(default_factory=list)

    def submit(self, payload: bytes, msg_ids: tuple[bytes, ...]) -> None:
        self.written.append(payload)


def make_link(role: Role = Role.INITIATOR, remote: bytes = b"\x01" * 32) -> PeerLink:
    conn = SimpleNamespace(remote_identity=remote, role=role, close=lambda: None)
    none = cast(Any, None)
    return PeerLink(
        cast(Any, conn), none, none, cast(Any, Pacer()), registry=ChannelRegistry(),
        outbox=none, dedupe=none, store=none,
    )  # fmt: skip


def answer_pings(link: PeerLink) -> int:
    """Play the peer: its mux answers every PING the link wrote; how many it answered."""
    peer = LinkMux(ChannelRegistry())
    pacer = cast(Pacer, link.pacer)
    answered = 0
    for payload in pacer.written:
        for event in peer.receive_payload(payload, 0.0):
            if isinstance(event, Outgoing):
                link._on_payload(encode(event.message))
                answered += 1
    pacer.written.clear()
    return answered


async def test_a_link_whose_peer_answers_the_ping_is_alive() -> None:
    link = make_link()
    probe = asyncio.create_task(link.answers(5.0))
    await asyncio.sleep(0)  # the PING goes out
    assert answer_pings(link) == 1
    assert await probe is True
    assert link.stats.rtt is not None  # the pong was read as one (an RTT sample)


async def test_a_silent_link_is_not_alive() -> None:
    link = make_link()
    assert await link.answers(0.05) is False
    assert len(cast(Pacer, link.pacer).written) == 1  # the unanswered PING
    assert link._listeners == []


async def test_any_payload_from_the_peer_counts() -> None:
    link = make_link()
    probe = asyncio.create_task(link.answers(5.0))
    await asyncio.sleep(0)
    other = LinkMux(ChannelRegistry())
    link._on_payload(encode(other.ping(0.0)))  # the peer's own PING, not our PONG
    assert await probe is True


async def test_a_closed_link_is_not_alive_and_a_closing_one_stops_the_wait() -> None:
    link = make_link()
    link.closed.set()
    assert await link.answers(5.0) is False
    assert cast(Pacer, link.pacer).written == []  # nothing is sent on a closed link

    link = make_link()
    probe = asyncio.create_task(link.answers(60.0))
    await asyncio.sleep(0)
    link.closed.set()
    assert await asyncio.wait_for(probe, 1.0) is False


# --- the tie-break ------------------------------------------------------------------------


class OldLink:
    """An open link as the manager sees it; answers (or not) as told."""

    def __init__(self, remote: bytes, role: Role, alive: bool, manager: LinkManager) -> None:
        self.contact = remote
        self.conn = SimpleNamespace(role=role)
        self.alive = alive
        self.manager = manager
        self.probes = 0
        self.stopped = False
        self.closes_while_probed = False

    @property
    def initiated_by_us(self) -> bool:
        return self.conn.role is Role.INITIATOR

    async def answers(self, timeout: float) -> bool:
        self.probes += 1
        assert timeout == manager_mod.LIVENESS_TIMEOUT
        if self.closes_while_probed:
            del self.manager.links[self.contact]  # its run ended meanwhile
            return False
        return self.alive

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[LinkManager]:
    db = open_db(tmp_path / "node.db")
    apply_migrations(db)
    identity = Ed25519PrivateKey.generate()
    own = identity.public_key().public_bytes_raw()
    options = SessionOptions(PaddingMode.PADME_CELLS, RatchetParams())
    local = LocalNode(identity, X25519PrivateKey.generate(), "a" * 56, options, False)
    m = LinkManager(
        local=local, policy=POLICIES[Level.STANDARD], db=db, book=ContactBook(db, own),
        registry=ChannelRegistry(), virtual_port=9999,
    )  # fmt: skip
    yield m
    db.close()


#: sorts before any node's key, so a link it dialed wins the tie-break everywhere
SMALL = b"\x00" * 32
#: sorts after
BIG = b"\xff" * 32


def install(manager: LinkManager, remote: bytes, role: Role, alive: bool) -> OldLink:
    old = OldLink(remote, role, alive, manager)
    manager.links[remote] = cast(Any, old)
    return old


def opened(remote: bytes) -> Any:
    return SimpleNamespace(identity=remote)


def new_conn(role: Role) -> Any:
    return SimpleNamespace(role=role)


def changes(manager: LinkManager) -> list[tuple[bytes, bool, bool]]:
    seen: list[tuple[bytes, bool, bool]] = []
    manager.link_hooks.append(lambda c, up, dialed: seen.append((c, up, dialed)))
    return seen


async def test_a_new_link_the_tie_break_drops_is_dropped_when_the_old_one_answers(
    manager: LinkManager,
) -> None:
    # SMALL dialed us and that link is up; now we dialed SMALL too (a race): keep the old
    old = install(manager, SMALL, Role.RESPONDER, alive=True)
    seen = changes(manager)
    assert await manager._adopt(opened(SMALL), new_conn(Role.INITIATOR)) is False
    assert old.probes == 1 and not old.stopped and seen == []
    assert manager.counters["duplicate_link_dropped"] == 1
    assert manager.links[SMALL] is cast(Any, old)


async def test_a_dead_old_link_gives_way_to_the_contacts_new_one(manager: LinkManager) -> None:
    # we dialed BIG earlier (our key is smaller); BIG restarted and dialed us: the old link
    # would win the tie-break, but it no longer answers
    old = install(manager, BIG, Role.INITIATOR, alive=False)
    seen = changes(manager)
    assert await manager._adopt(opened(BIG), new_conn(Role.RESPONDER)) is True
    assert old.probes == 1 and old.stopped
    assert seen == [(BIG, False, True)]  # the old link's end is reported (sync starts again)
    assert manager.counters["dead_link_replaced"] == 1
    assert manager.counters["duplicate_link_dropped"] == 0


async def test_an_old_link_that_closes_while_probed_is_not_stopped_twice(
    manager: LinkManager,
) -> None:
    old = install(manager, BIG, Role.INITIATOR, alive=True)
    old.closes_while_probed = True
    seen = changes(manager)
    assert await manager._adopt(opened(BIG), new_conn(Role.RESPONDER)) is True
    assert not old.stopped and seen == []  # its own run reports its end
    assert manager.counters["dead_link_replaced"] == 0


@pytest.mark.parametrize(
    ("remote", "old_role", "new_role"),
    [
        (SMALL, Role.RESPONDER, Role.RESPONDER),  # the same initiator again: it reconnected
        (BIG, Role.INITIATOR, Role.INITIATOR),  # we dialed again
        (SMALL, Role.INITIATOR, Role.RESPONDER),  # the smaller key's new link wins outright
    ],
    ids=["the-same-initiator", "we-dialed-again", "the-smaller-key-dialed"],
)
async def test_a_new_link_the_tie_break_keeps_replaces_the_old_without_a_probe(
    manager: LinkManager, remote: bytes, old_role: Role, new_role: Role
) -> None:
    old = install(manager, remote, old_role, alive=True)
    assert await manager._adopt(opened(remote), new_conn(new_role)) is True
    assert old.probes == 0 and old.stopped
