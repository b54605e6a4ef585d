"""Durable state of the node's circles: ``<state>/circles.db`` (SQLite, WAL, synchronous=FULL).

One row per circle holds its signed genesis, whether this node joined it (or only received
the genesis: ``pending``), its local name and the replica's latest
:meth:`~gateway.circle.pbft.Replica.snapshot`. The executed decisions (``circle_log``) and
the faults the replica reported (``circle_faults``) are kept beside it. The snapshot and
the log rows of one step are written in one transaction, before the messages of that step
are sent (docs/PROTOCOL-circles.md, "I/O").

The file is separate from ``node.db`` on purpose: it is written from the circle service's
own thread (the event loop never waits on its fsync), and it is not part of backups: a
replica restored from an old snapshot would forget the votes it sent since and could
contradict them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import CircleStateError, map_exceptions
from gateway.storage.db import SQL_ERRORS, Migration, apply_migrations, open_db, transaction

FILE_NAME = "circles.db"

MIGRATIONS = (
    Migration(
        "circles",
        1,
        "CREATE TABLE circles (circle_id BLOB PRIMARY KEY, name TEXT NOT NULL,"
        " genesis BLOB NOT NULL, status TEXT NOT NULL, inviter BLOB, created REAL NOT NULL,"
        " snapshot BLOB);"
        "CREATE TABLE circle_log (circle_id BLOB NOT NULL, seq INTEGER NOT NULL,"
        " kind TEXT NOT NULL, proposer BLOB, applied INTEGER NOT NULL, decision TEXT NOT NULL,"
        " at REAL NOT NULL, PRIMARY KEY (circle_id, seq));"
        "CREATE TABLE circle_faults (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " circle_id BLOB NOT NULL, member BLOB NOT NULL, kind TEXT NOT NULL,"
        " detail TEXT NOT NULL, evidence BLOB NOT NULL, at REAL NOT NULL);",
    ),
)

PENDING = "pending"
JOINED = "joined"
#: most fault rows kept per circle (the oldest go first)
MAX_FAULTS = 1000


@dataclass(frozen=True)
class CircleRow:
    circle_id: bytes
    name: str
    genesis: bytes
    status: str  # pending or joined
    inviter: bytes | None
    created: float
    snapshot: bytes | None


@dataclass(frozen=True)
class LogRow:
    """One executed decision (``kind`` a decision name), or ``state_transfer`` (the replica
    jumped to ``seq`` by state transfer: the decisions before it were not seen one by one)."""

    seq: int
    kind: str
    proposer: bytes | None
    applied: bool
    decision: str  # JSON of the decision
    at: float


@dataclass(frozen=True)
class FaultRow:
    member: bytes
    kind: str
    detail: str
    evidence: bytes
    at: float


@dataclass
class Step:
    """What one step of a replica changed: written in one transaction."""

    circle_id: bytes
    snapshot: bytes
    log: list[LogRow]
    faults: list[FaultRow]


class CircleStore:
    """Reads and writes ``circles.db``; use it from one thread at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = open_db(path)
        try:
            apply_migrations(self.conn, MIGRATIONS)
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        with map_exceptions(SQL_ERRORS):
            self.conn.close()

    def add(self, row: CircleRow) -> None:
        """Insert a circle; CircleStateError if it is already known."""
        with map_exceptions(SQL_ERRORS), transaction(self.conn):
            known = self.conn.execute(
                "SELECT 1 FROM circles WHERE circle_id = ?", (row.circle_id,)
            ).fetchone()
            if known is not None:
                raise CircleStateError(f"circle {row.circle_id.hex()[:16]} is already known")
            self.conn.execute(
                "INSERT INTO circles VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.circle_id, row.name, row.genesis, row.status, row.inviter, row.created,
                    row.snapshot,
                ),
            )  # fmt: skip

    def join(self, circle_id: bytes, name: str, snapshot: bytes) -> None:
        with map_exceptions(SQL_ERRORS), transaction(self.conn):
            self.conn.execute(
                "UPDATE circles SET status = ?, name = ?, snapshot = ? WHERE circle_id = ?",
                (JOINED, name, snapshot, circle_id),
            )

    def circles(self) -> list[CircleRow]:
        with map_exceptions(SQL_ERRORS):
            rows = self.conn.execute(
                "SELECT circle_id, name, genesis, status, inviter, created, snapshot"
                " FROM circles ORDER BY created"
            ).fetchall()
        return [
            CircleRow(
                bytes(c), str(n), bytes(g), str(s), bytes(i) if i is not None else None,
                float(t), bytes(snap) if snap is not None else None,
            )
            for c, n, g, s, i, t, snap in rows
        ]  # fmt: skip

    def save(self, steps: list[Step]) -> None:
        """Write the snapshots, log rows and faults of ``steps``, all in one transaction."""
        if not steps:
            return
        with map_exceptions(SQL_ERRORS), transaction(self.conn):
            for step in steps:
                self.conn.execute(
                    "UPDATE circles SET snapshot = ? WHERE circle_id = ?",
                    (step.snapshot, step.circle_id),
                )
                self.conn.executemany(
                    "INSERT OR REPLACE INTO circle_log VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (step.circle_id, r.seq, r.kind, r.proposer, int(r.applied), r.decision,
                         r.at)
                        for r in step.log
                    ],
                )  # fmt: skip
                self.conn.executemany(
                    "INSERT INTO circle_faults (circle_id, member, kind, detail, evidence, at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(step.circle_id, f.member, f.kind, f.detail, f.evidence, f.at)
                     for f in step.faults],
                )  # fmt: skip
                if step.faults:
                    self.conn.execute(
                        "DELETE FROM circle_faults WHERE circle_id = ? AND id NOT IN (SELECT id"
                        " FROM circle_faults WHERE circle_id = ? ORDER BY id DESC LIMIT ?)",
                        (step.circle_id, step.circle_id, MAX_FAULTS),
                    )

    def log(self, circle_id: bytes, after: int = 0, limit: int = 1000) -> list[LogRow]:
        with map_exceptions(SQL_ERRORS):
            rows = self.conn.execute(
                "SELECT seq, kind, proposer, applied, decision, at FROM circle_log"
                " WHERE circle_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (circle_id, after, limit),
            ).fetchall()
        return [
            LogRow(int(s), str(k), bytes(p) if p is not None else None, bool(a), str(d), float(t))
            for s, k, p, a, d, t in rows
        ]

    def faults(self, circle_id: bytes, limit: int = 100) -> list[FaultRow]:
        with map_exceptions(SQL_ERRORS):
            rows = self.conn.execute(
                "SELECT member, kind, detail, evidence, at FROM circle_faults"
                " WHERE circle_id = ? ORDER BY id DESC LIMIT ?",
                (circle_id, limit),
            ).fetchall()
        return [FaultRow(bytes(m), str(k), str(d), bytes(e), float(t)) for m, k, d, e, t in rows]


def holds_circles(path: Path) -> bool:
    """Whether the file at ``path`` holds a circle (joined or pending), read without a write
    and without the circle code: False when there is no file. A file that cannot be read
    counts as holding one, so that opening the store itself reports the problem."""
    if not path.exists():
        return False
    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM circles)").fetchone()[0])
    except sqlite3.Error:
        return True
