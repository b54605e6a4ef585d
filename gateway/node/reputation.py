"""Peer reputation on a running node: what feeds the ledger, where it is kept, who reads it.

:class:`ReputationService` measures every paired contact (see
:mod:`gateway.contacts.reputation` for the measurements and the score) from:

* the link manager's hooks: links up and down (uptime), pongs (RTT);
* memory sync: each finished session (entries refused, by reason) and split views;
* council rounds this node asked: faults by kind, and a clean round for the others;
* the circles service: :meth:`ReputationService.record_pbft_fault`.

Time is accounted only while this node's tor is up (a node whose own tor is down would
otherwise blame every contact). The ledger is kept in the node database (tables
``reputation_*``), written every :data:`TICK` seconds and when the node stops, so a restart
keeps the history.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from gateway.circle.ranks import RANK_BUCKETS  # NEUTRAL_RANK = rank_bucket(NEUTRAL): tested
from gateway.contacts import reputation as rep
from gateway.contacts.book import ContactBook, ContactState
from gateway.errors import DatabaseError, GatewayError, map_exceptions
from gateway.memory.hub import SyncFinished
from gateway.storage.db import SQL_ERRORS, Migration, register_migration, transaction

log = logging.getLogger("gateway.reputation")

#: how often uptime is accounted and changed records are written
TICK = 10.0
#: a contact whose PBFT equivocations still weigh this much (one, up to a HALF_LIFE ago)
#: ranks last in the primary order whatever its score: it was proven Byzantine, and one
#: incident moves a long-known contact's score by far less than a rank bucket
EQUIVOCATOR_WEIGHT = 0.5

register_migration(
    Migration(
        "reputation",
        1,
        "CREATE TABLE reputation_uptime (contact BLOB NOT NULL, bucket INTEGER NOT NULL,"
        " observed REAL NOT NULL, up REAL NOT NULL, PRIMARY KEY (contact, bucket));"
        "CREATE TABLE reputation_rtt (contact BLOB PRIMARY KEY, ewma REAL,"
        " samples INTEGER NOT NULL, recent TEXT NOT NULL);"
        "CREATE TABLE reputation_events (contact BLOB NOT NULL, category TEXT NOT NULL,"
        " kind TEXT NOT NULL, total INTEGER NOT NULL, recent REAL NOT NULL, at REAL NOT NULL,"
        " PRIMARY KEY (contact, category, kind));",
    )
)


class Online(Protocol):
    """What the service needs of the link manager."""

    def online(self) -> list[bytes]: ...


def load(db: sqlite3.Connection) -> dict[bytes, rep.Record]:
    """Every stored record."""
    records: dict[bytes, rep.Record] = {}
    with map_exceptions(SQL_ERRORS):
        for contact, bucket, observed, up in db.execute(
            "SELECT contact, bucket, observed, up FROM reputation_uptime"
        ):
            rec = records.setdefault(bytes(contact), rep.Record())
            rec.uptime[int(bucket)] = [float(observed), float(up)]
        for contact, ewma, samples, recent in db.execute(
            "SELECT contact, ewma, samples, recent FROM reputation_rtt"
        ):
            rec = records.setdefault(bytes(contact), rep.Record())
            rec.rtt_ewma = None if ewma is None else float(ewma)
            rec.rtt_samples = int(samples)
            rec.rtt_recent = [float(x) for x in json.loads(recent)][-rep.RTT_KEEP :]
        for contact, category, kind, total, recent, at in db.execute(
            "SELECT contact, category, kind, total, recent, at FROM reputation_events"
        ):
            rec = records.setdefault(bytes(contact), rep.Record())
            rec.events[(str(category), str(kind))] = rep.Tally(int(total), float(recent), float(at))
    return records


def save(db: sqlite3.Connection, records: Mapping[bytes, rep.Record | None]) -> None:
    """Replace the stored rows of each contact in ``records`` (None: forget the contact)."""
    with map_exceptions(SQL_ERRORS), transaction(db):
        for contact, rec in records.items():
            for table in ("reputation_uptime", "reputation_rtt", "reputation_events"):
                db.execute(f"DELETE FROM {table} WHERE contact = ?", (contact,))  # noqa: S608
            if rec is None:
                continue
            db.executemany(
                "INSERT INTO reputation_uptime VALUES (?, ?, ?, ?)",
                [(contact, b, o, u) for b, (o, u) in sorted(rec.uptime.items())],
            )
            db.execute(
                "INSERT INTO reputation_rtt VALUES (?, ?, ?, ?)",
                (contact, rec.rtt_ewma, rec.rtt_samples, json.dumps(rec.rtt_recent)),
            )
            db.executemany(
                "INSERT INTO reputation_events VALUES (?, ?, ?, ?, ?, ?)",
                [(contact, c, k, t.total, t.recent, t.at) for (c, k), t in rec.events.items()],
            )


class ReputationService:
    """Measures every paired contact; scores them; keeps it all in the node database."""

    def __init__(
        self,
        db: sqlite3.Connection,
        book: ContactBook,
        links: Online,
        *,
        me: bytes = b"",
        ready: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.book = book
        self.links = links
        self.me = me
        self.ready = ready
        self.clock = clock
        self.ledger = rep.Ledger(load(db))
        self._online: set[bytes] = set(links.online())
        self._last = clock()

    # --- measurements ----------------------------------------------------------------

    def account(self) -> None:
        """Add the time since the last call to every paired contact's uptime buckets."""
        now = self.clock()
        start, self._last = self._last, now
        if not self.ready():
            return
        paired = [c.identity for c in self.book.list() if c.state is ContactState.PAIRED]
        self.ledger.observe(paired, self._online, start, now)

    def on_link(self, contact: bytes, up: bool, _dialed: bool = False) -> None:
        """A link hook: account the time so far with the old state, then switch."""
        self.account()
        if up:
            self._online.add(contact)
        else:
            self._online.discard(contact)

    def on_rtt(self, contact: bytes, seconds: float) -> None:
        """A link's pong: one RTT sample."""
        self.ledger.rtt(contact, seconds)

    def sync_finished(self, done: SyncFinished) -> None:
        """A memory-sync session ended: refusals by reason, or a clean session.

        Sessions that failed (link lost, timed out) count for nothing: uptime has that.
        """
        now = self.clock()
        refused = {k: v for k, v in done.refused.items() if v > 0}
        for reason, count in sorted(refused.items()):
            self.ledger.event(done.peer, rep.SYNC, reason, now, count)
        if not refused and done.error is None:
            self.ledger.event(done.peer, rep.SYNC, rep.OK, now)

    def split_view(self, peer: bytes, _reason: str = "") -> None:
        """The peer signed two tree heads that do not extend each other."""
        self.ledger.event(peer, rep.SYNC, "split_view", self.clock())

    def round_finished(self, view: Mapping[str, Any]) -> None:
        """A round this node asked is over: each participant's faults, or a clean round.

        A fault kind counts once per round in the score (however many stages it hit);
        every recorded fault adds to the lifetime total.
        """
        now = self.clock()
        faults: dict[bytes, dict[str, int]] = {}
        for fault in view.get("faults", ()):
            try:
                peer = bytes.fromhex(str(fault["peer"]))
                kind = str(fault["kind"])
            except (KeyError, ValueError, TypeError):
                continue
            kinds = faults.setdefault(peer, {})
            kinds[kind] = kinds.get(kind, 0) + 1
        for item in view.get("participants", ()):
            try:
                peer = bytes.fromhex(str(item["id"]))
            except (KeyError, ValueError, TypeError):
                continue
            if peer == self.me:
                continue
            if peer not in faults:
                self.ledger.event(peer, rep.ROUND, rep.OK, now)
            for kind, count in sorted(faults.get(peer, {}).items()):
                self.ledger.event(peer, rep.ROUND, kind, now, count)

    def record_pbft_fault(self, contact: bytes, kind: str) -> None:
        """A circle caught ``contact`` in a PBFT fault: ``equivocation`` (two conflicting
        signed messages for one slot, with evidence) or ``silent_primary`` (a view change
        away from it as primary because it proposed nothing in time)."""
        if kind not in rep.PBFT_KINDS:
            raise ValueError(f"PBFT fault kind is one of {', '.join(rep.PBFT_KINDS)}")
        self.ledger.event(contact, rep.PBFT, kind, self.clock())

    # --- reading -----------------------------------------------------------------------

    def score(self, contact: bytes) -> float:
        return self.ledger.score(contact, self.clock()).score

    def as_json(self, contact: bytes) -> dict[str, Any]:
        """What ``gateway peers`` shows of a contact (see docs/REPUTATION.md)."""
        return self.ledger.score(contact, self.clock()).as_json()

    def best(self, candidates: Iterable[bytes], k: int) -> list[bytes]:
        """The ``k`` best-scored of ``candidates`` that have a link up now (ties: by key)."""
        online = set(self.links.online())
        now = self.clock()
        scores = {c: self.ledger.score(c, now).score for c in set(candidates) if c in online}
        return rep.best(scores, k)

    def rank(self, key: bytes) -> int:
        """This node's own opinion of ``key`` as a primary-order rank (0 leads): its score's
        bucket, or the last rank while a PBFT equivocation it was caught in (signed evidence)
        still weighs :data:`EQUIVOCATOR_WEIGHT` (about a week: HALF_LIFE).

        Local: other members compute other numbers. The circles service reports it in each
        circle as a RANK-REPORT decision; a circle orders its primaries by the median of its
        members' reports (see :mod:`gateway.circle.ranks` and docs/REPUTATION.md).
        """
        now = self.clock()
        record = self.ledger.records.get(key)
        caught = record.events.get((rep.PBFT, "equivocation")) if record is not None else None
        if caught is not None and caught.value(now) >= EQUIVOCATOR_WEIGHT:
            return RANK_BUCKETS - 1
        return rep.rank_bucket(self.ledger.score(key, now).score, RANK_BUCKETS)

    # --- life --------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the records that changed (and forget contacts no longer in the book)."""
        dirty = self.ledger.take_dirty()
        if not dirty:
            return
        known = {c.identity for c in self.book.list()}
        gone = [c for c in dirty if c not in known]
        for contact in gone:
            self.ledger.records.pop(contact, None)
        save(self.db, {c: self.ledger.records.get(c) for c in dirty})

    async def run(self) -> None:
        """Account and write every TICK seconds; until cancelled."""
        self._last = self.clock()
        self._online = set(self.links.online())
        while True:
            await asyncio.sleep(TICK)
            try:
                self.account()
                self.flush()
            except GatewayError as exc:
                log.warning("reputation: %s", exc)

    def close(self) -> None:
        """Account the last seconds and write everything (the node is stopping)."""
        try:
            self.account()
            self.flush()
        except (GatewayError, DatabaseError) as exc:
            log.warning("reputation: could not write the last measurements: %s", exc)
