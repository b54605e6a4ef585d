"""ReputationService: the node's hooks feed the ledger, it persists across restarts, it picks."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway.contacts import reputation as rep
from gateway.contacts.book import ContactBook
from gateway.memory.hub import SyncFinished
from gateway.node.reputation import ReputationService, load
from gateway.storage.db import apply_migrations, open_db, schema_versions
from tests.unit.contacts.helpers import NOW
from tests.unit.contacts.helpers import make_node as make_contact_node

T0 = float(NOW)


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Links:
    up: set[bytes] = field(default_factory=set)

    def online(self) -> list[bytes]:
        return sorted(self.up)


@dataclass
class World:
    db: sqlite3.Connection
    book: ContactBook
    clock: Clock
    links: Links
    contacts: list[bytes]
    me: bytes
    ready: list[bool]

    def service(self) -> ReputationService:
        return ReputationService(
            self.db, self.book, self.links, me=self.me, ready=lambda: self.ready[0],
            clock=self.clock,
        )  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A node database with three paired contacts and one pending."""
    me = make_contact_node(tmp_path / "me", "me")
    db = open_db(tmp_path / "node.db")
    apply_migrations(db)
    book = ContactBook(db, me.identity)
    contacts = []
    for i in range(4):
        other = make_contact_node(tmp_path / f"c{i}", f"c{i}")
        book.add_contact(other.invite().text, NOW, nickname=f"c{i}")
        if i < 3:
            book.mark_paired(other.identity, NOW)
        contacts.append(other.identity)
    yield World(db, book, Clock(), Links(), contacts, me.identity, [True])
    db.close()
    me.book.close()


def test_the_migration_is_registered(world: World) -> None:
    assert schema_versions(world.db)["reputation"] == 1


def test_uptime_follows_the_link_hooks_and_only_paired_contacts_count(world: World) -> None:
    a, b, _, pending = world.contacts
    svc = world.service()
    svc.on_link(a, True)
    world.clock.now += 60
    svc.on_link(b, True)
    world.clock.now += 30
    svc.on_link(a, False)
    world.clock.now += 10
    svc.account()
    assert svc.as_json(a)["uptime"] == pytest.approx(0.9)  # up 90 of 100 s
    assert svc.as_json(b)["uptime"] == pytest.approx(0.4)  # up 40 of 100 s
    assert svc.as_json(world.contacts[2])["uptime"] == 0.0
    assert svc.as_json(pending)["uptime"] is None  # not paired: not observed
    assert svc.score(a) > svc.score(b) > svc.score(world.contacts[2])


def test_time_while_this_nodes_tor_is_down_is_not_observed(world: World) -> None:
    a = world.contacts[0]
    svc = world.service()
    world.ready[0] = False
    world.clock.now += 50
    svc.account()
    assert svc.as_json(a)["observed_s"] == 0
    world.ready[0] = True
    world.clock.now += 20
    svc.account()
    assert svc.as_json(a)["observed_s"] == 20


def test_rtt_from_pongs(world: World) -> None:
    a = world.contacts[0]
    svc = world.service()
    for seconds in (0.3, 0.5, 0.4):
        svc.on_rtt(a, seconds)
    got = svc.as_json(a)
    assert got["rtt_samples"] == 3 and got["rtt_p50_ms"] == 400.0
    assert got["rtt_ewma_ms"] == pytest.approx(1000 * (0.2 * 0.4 + 0.8 * (0.2 * 0.5 + 0.8 * 0.3)))


def test_sync_sessions(world: World) -> None:
    a, b, c, _ = world.contacts
    svc = world.service()
    svc.sync_finished(SyncFinished(a, 1, True, 0, {"bad_signature": 3, "malformed": 1}))
    svc.sync_finished(SyncFinished(b, 2, False, 4, {}))
    svc.sync_finished(SyncFinished(c, 3, True, 0, {}, "timed out"))  # nothing: uptime has it
    svc.split_view(c, "two heads")
    assert svc.as_json(a)["sync_refusals"] == {"bad_signature": 3, "malformed": 1}
    assert svc.as_json(b)["clean"] == {"sync": 1} and svc.as_json(b)["sync_refusals"] == {}
    assert svc.as_json(c)["sync_refusals"] == {"split_view": 1}
    assert svc.score(b) > 0.5 > svc.score(a)


def test_round_faults_from_an_askers_view(world: World) -> None:
    a, b, c, _ = world.contacts
    svc = world.service()
    view: dict[str, Any] = {
        "participants": [{"id": p.hex()} for p in (world.me, a, b, c)],
        "faults": [
            {"peer": b.hex(), "stage": "commit", "kind": "timeout"},
            {"peer": b.hex(), "stage": "reveal", "kind": "timeout"},
            {"peer": c.hex(), "stage": "reveal", "kind": "equivocation"},
            {"peer": "zz", "kind": "garbage"},  # skipped
            {"kind": "garbage"},  # skipped
        ],
    }
    svc.round_finished(view)
    assert svc.as_json(a)["clean"] == {"round": 1} and svc.as_json(a)["round_faults"] == {}
    assert svc.as_json(b)["round_faults"] == {"timeout": 2}
    assert svc.as_json(c)["round_faults"] == {"equivocation": 1}
    assert world.me not in svc.ledger.records  # this node rates nobody's view of itself
    assert svc.score(a) > 0.5 > svc.score(b) > svc.score(c)


def test_pbft_faults(world: World) -> None:
    a, b, *_ = world.contacts
    svc = world.service()
    svc.record_pbft_fault(a, "equivocation")
    svc.record_pbft_fault(b, "silent_primary")
    svc.record_pbft_fault(b, "silent_primary")
    with pytest.raises(ValueError, match="silent_primary"):
        svc.record_pbft_fault(a, "rude")
    assert svc.as_json(a)["pbft_faults"] == {"equivocation": 1}
    assert svc.as_json(b)["pbft_faults"] == {"silent_primary": 2}
    assert svc.score(a) < 0.5 and svc.score(b) < 0.5


def test_everything_survives_a_restart(world: World) -> None:
    a, b, c, _ = world.contacts
    svc = world.service()
    world.links.up = {a}
    svc.on_link(a, True)
    world.clock.now += 100
    svc.on_rtt(a, 0.25)
    svc.sync_finished(SyncFinished(b, 1, True, 0, {"oversized": 2}))
    svc.record_pbft_fault(c, "equivocation")
    svc.round_finished({"participants": [{"id": a.hex()}], "faults": []})
    svc.close()
    before = {p: svc.as_json(p) for p in (a, b, c)}
    assert before[a]["uptime"] == 1.0

    world.links.up = set()  # a restarted node has no link yet
    again = world.service()
    assert {p: again.as_json(p) for p in (a, b, c)} == before
    assert load(world.db) == svc.ledger.records
    world.clock.now += 50
    again.account()
    assert again.as_json(a)["uptime"] == pytest.approx(100 / 150, abs=1e-4)


def test_flush_writes_only_changes_and_forgets_removed_contacts(world: World) -> None:
    a, b, *_ = world.contacts
    svc = world.service()
    svc.on_rtt(a, 0.2)
    svc.on_rtt(b, 0.2)
    svc.flush()
    rows = world.db.execute("SELECT COUNT(*) FROM reputation_rtt").fetchone()[0]
    assert rows == 2
    world.book.remove(b)
    svc.on_rtt(b, 0.3)  # a late pong of the removed contact
    svc.flush()
    assert set(load(world.db)) == {a}
    assert b not in svc.ledger.records


def test_best_picks_reachable_contacts_by_score_and_ranks(world: World) -> None:
    a, b, c, _ = world.contacts
    svc = world.service()
    svc.round_finished({"participants": [{"id": b.hex()}], "faults": []})
    svc.record_pbft_fault(a, "equivocation")
    world.links.up = {a, b}  # c is unreachable: never picked
    assert svc.best([a, b, c], 1) == [b]
    assert svc.best([a, b, c], 5) == [b, a]
    assert svc.best([c], 2) == []
    tie = sorted([a, c])
    world.links.up = {a, c}
    svc2 = ReputationService(world.db, world.book, world.links, clock=world.clock)
    assert svc2.best([c, a], 2) == tie  # both 0.5: by key
    assert svc.rank(b) <= svc.rank(a)
    assert svc2.rank(a) == rep.rank_bucket(0.5)


def test_a_proven_equivocator_ranks_last_for_about_a_week(world: World) -> None:
    """Circles order primaries by these ranks (gateway.circle.ranks): one equivocation, with
    signed evidence, ranks a contact last whatever its score, until it has decayed."""
    a, b, *_ = world.contacts
    svc = world.service()
    for _ in range(50):  # a long clean record: the score hardly moves for one incident
        svc.sync_finished(SyncFinished(a, 1, True, 0, {}))
        svc.sync_finished(SyncFinished(b, 1, True, 0, {}))
    svc.record_pbft_fault(a, "equivocation")
    svc.record_pbft_fault(b, "silent_primary")
    assert rep.rank_bucket(svc.score(a)) == rep.rank_bucket(svc.score(b))
    assert svc.rank(a) == rep.RANK_BUCKETS - 1
    assert svc.rank(b) == rep.rank_bucket(svc.score(b))
    world.clock.now += rep.HALF_LIFE * 1.01
    assert svc.rank(a) == rep.rank_bucket(svc.score(a))
