"""The durable outbox of each contact, and session persistence that shares its transactions.

SQLite, through :mod:`gateway.storage.db` (WAL, synchronous=FULL). A message is
in the database before :meth:`Outbox.enqueue` returns and stays there until the
contact acknowledges it end to end (:meth:`Outbox.ack`); until then it is sent
again on a backoff schedule (:meth:`Outbox.due`, :meth:`Outbox.mark_sent`).

Message ids are ``epoch (8 random bytes) || counter (u64)``: each contact's
outbox has a random sender epoch, made once, and a counter that only grows. A
node that loses its database makes a new epoch, so its new messages are never
mistaken for old ones by the receiver's dedupe (:mod:`gateway.link.dedupe`).

Times are wall-clock seconds (``time.time()``): schedules survive restarts.

Every write joins the caller's transaction if one is open (``with
outbox.transaction(): ...``), else runs in its own and is durable on return.
:meth:`Outbox.persist_for` builds the ``persist`` callback of
:class:`gateway.session.session.Session`: the new ratchet state, the sealed
records and the ``mark_sent`` of the messages they carry in ONE transaction.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gateway.errors import LinkError, QueueFullError, map_exceptions
from gateway.link.backoff import Backoff
from gateway.link.messages import MAX_BODY, is_channel_name, make_msg_id
from gateway.storage.db import SQL_ERRORS, Migration, register_migration, transaction

SCHEMA = """
CREATE TABLE link_outbox_senders (
    contact BLOB PRIMARY KEY, epoch BLOB NOT NULL, next_counter INTEGER NOT NULL);
CREATE TABLE link_outbox (
    contact BLOB NOT NULL, counter INTEGER NOT NULL, msg_id BLOB NOT NULL UNIQUE,
    channel TEXT NOT NULL, body BLOB NOT NULL, created REAL NOT NULL,
    attempts INTEGER NOT NULL, next_at REAL NOT NULL, PRIMARY KEY (contact, counter));
CREATE INDEX link_outbox_due ON link_outbox (contact, next_at);
CREATE TABLE link_sessions (contact BLOB PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE link_wire (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, contact BLOB NOT NULL, record BLOB NOT NULL);
CREATE INDEX link_wire_contact ON link_wire (contact, seq);
"""
MIGRATION = Migration("link_outbox", 1, SCHEMA)
register_migration(MIGRATION)

#: default retry policy: first retry within 30 s, at most an hour apart
DEFAULT_BACKOFF = Backoff(base=30.0, cap=3600.0)
DEFAULT_MAX_PER_CONTACT = 10_000

#: persist(new_state_blob, wire_records), as Session expects
Persist = Callable[[bytes, list[bytes]], None]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message waiting for its end-to-end ack."""

    msg_id: bytes
    contact: bytes
    channel: str
    body: bytes
    created: float
    attempts: int
    next_at: float


@contextlib.contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Join the open transaction, or run in a new one."""
    if conn.in_transaction:
        with map_exceptions(SQL_ERRORS):
            yield conn
    else:
        with transaction(conn):
            yield conn


# --- session state and the wire journal (no commits: they join the caller's) ----


def save_session_state(conn: sqlite3.Connection, contact: bytes, state: bytes) -> None:
    """Store the session state blob of ``contact`` (in the caller's transaction)."""
    with _write(conn):
        conn.execute(
            "INSERT INTO link_sessions VALUES (?, ?)"
            " ON CONFLICT (contact) DO UPDATE SET state = excluded.state",
            (contact, state),
        )


def load_session_state(conn: sqlite3.Connection, contact: bytes) -> bytes | None:
    """The stored session state blob of ``contact``, if any."""
    with map_exceptions(SQL_ERRORS):
        row = conn.execute("SELECT state FROM link_sessions WHERE contact = ?", (contact,))
        found = row.fetchone()
    return bytes(found[0]) if found else None


def journal_records(conn: sqlite3.Connection, contact: bytes, records: Iterable[bytes]) -> None:
    """Keep sealed records until they are written to the link (in the caller's transaction)."""
    with _write(conn):
        conn.executemany(
            "INSERT INTO link_wire (contact, record) VALUES (?, ?)",
            [(contact, r) for r in records],
        )


def journaled_records(conn: sqlite3.Connection, contact: bytes) -> list[tuple[int, bytes]]:
    """Sealed records of ``contact`` not yet released, oldest first, with their seq."""
    with map_exceptions(SQL_ERRORS):
        rows = conn.execute(
            "SELECT seq, record FROM link_wire WHERE contact = ? ORDER BY seq", (contact,)
        ).fetchall()
    return [(int(seq), bytes(rec)) for seq, rec in rows]


def release_records(conn: sqlite3.Connection, contact: bytes, upto_seq: int | None = None) -> int:
    """Forget journaled records (written, or of a dead session) up to ``upto_seq``; count."""
    with _write(conn):
        if upto_seq is None:
            cur = conn.execute("DELETE FROM link_wire WHERE contact = ?", (contact,))
        else:
            cur = conn.execute(
                "DELETE FROM link_wire WHERE contact = ? AND seq <= ?", (contact, upto_seq)
            )
    return cur.rowcount


# --- the outbox -------------------------------------------------------------------


def _row(row: tuple[Any, ...]) -> OutboxMessage:
    msg_id, contact, channel, body, created, attempts, next_at = row
    return OutboxMessage(
        bytes(msg_id),
        bytes(contact),
        str(channel),
        bytes(body),
        float(created),
        int(attempts),
        float(next_at),
    )


_COLUMNS = "msg_id, contact, channel, body, created, attempts, next_at"


class Outbox:
    """Per-contact outboxes in the node database (schema applied by the migrations)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        backoff: Backoff = DEFAULT_BACKOFF,
        max_per_contact: int = DEFAULT_MAX_PER_CONTACT,
        new_epoch: Callable[[], bytes] = lambda: secrets.token_bytes(8),
    ) -> None:
        self.conn = conn
        self.backoff = backoff
        self.max_per_contact = max_per_contact
        self._new_epoch = new_epoch

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One transaction for several writes (outbox, session state, journal)."""
        return transaction(self.conn)

    def _next_id(self, contact: bytes) -> tuple[bytes, int]:
        row = self.conn.execute(
            "SELECT epoch, next_counter FROM link_outbox_senders WHERE contact = ?", (contact,)
        ).fetchone()
        if row is None:
            epoch, counter = self._new_epoch(), 1
            self.conn.execute("INSERT INTO link_outbox_senders VALUES (?, ?, 2)", (contact, epoch))
        else:
            epoch, counter = bytes(row[0]), int(row[1])
            self.conn.execute(
                "UPDATE link_outbox_senders SET next_counter = ? WHERE contact = ?",
                (counter + 1, contact),
            )
        return make_msg_id(epoch, counter), counter

    def enqueue(self, contact: bytes, channel: str, body: bytes, now: float | None = None) -> bytes:
        """Store a message for ``contact``; its id. Durable on return (outside a transaction)."""
        if not contact or not is_channel_name(channel) or len(body) > MAX_BODY:
            raise LinkError(
                f"outbox: bad message (contact of {len(contact)} bytes, channel {channel!r},"
                f" body of {len(body)} bytes; at most {MAX_BODY})"
            )
        at = time.time() if now is None else now
        with _write(self.conn):
            if self.pending(contact) >= self.max_per_contact:
                raise QueueFullError(f"outbox of contact full ({self.max_per_contact} messages)")
            msg_id, counter = self._next_id(contact)
            self.conn.execute(
                "INSERT INTO link_outbox VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                (contact, counter, msg_id, channel, body, at, at),
            )
        return msg_id

    def pending(self, contact: bytes) -> int:
        """Messages of ``contact`` not yet acknowledged."""
        with map_exceptions(SQL_ERRORS):
            row = self.conn.execute(
                "SELECT count(*) FROM link_outbox WHERE contact = ?", (contact,)
            ).fetchone()
        return int(row[0])

    def get(self, msg_id: bytes) -> OutboxMessage | None:
        """One message by id, if it is still in the outbox."""
        with map_exceptions(SQL_ERRORS):
            row = self.conn.execute(
                f"SELECT {_COLUMNS} FROM link_outbox WHERE msg_id = ?",  # noqa: S608
                (msg_id,),
            ).fetchone()
        return _row(row) if row else None

    def due(self, contact: bytes, now: float, limit: int = 100) -> list[OutboxMessage]:
        """Messages of ``contact`` to (re)send at ``now``, oldest first."""
        with map_exceptions(SQL_ERRORS):
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM link_outbox"  # noqa: S608
                " WHERE contact = ? AND next_at <= ? ORDER BY counter LIMIT ?",
                (contact, now, limit),
            ).fetchall()
        return [_row(r) for r in rows]

    def next_due(self, contact: bytes) -> float | None:
        """When the next message of ``contact`` is due (``None``: outbox empty)."""
        with map_exceptions(SQL_ERRORS):
            row = self.conn.execute(
                "SELECT min(next_at) FROM link_outbox WHERE contact = ?", (contact,)
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def mark_sent(self, msg_id: bytes, now: float) -> None:
        """``msg_id`` went out at ``now``: schedule its retry after a backoff delay."""
        with _write(self.conn):
            row = self.conn.execute(
                "SELECT attempts FROM link_outbox WHERE msg_id = ?", (msg_id,)
            ).fetchone()
            if row is None:
                return  # acknowledged meanwhile
            attempts = int(row[0])
            self.conn.execute(
                "UPDATE link_outbox SET attempts = ?, next_at = ? WHERE msg_id = ?",
                (attempts + 1, now + self.backoff.delay(attempts), msg_id),
            )

    def ack(self, contact: bytes, msg_ids: Iterable[bytes]) -> int:
        """``contact`` acknowledged these ids: delete them; how many were deleted."""
        with _write(self.conn):
            cur = self.conn.executemany(
                "DELETE FROM link_outbox WHERE contact = ? AND msg_id = ?",
                [(contact, m) for m in msg_ids],
            )
        return max(cur.rowcount, 0)

    def reschedule(self, contact: bytes, now: float) -> int:
        """A new link to ``contact`` is up: every unacknowledged message is due now."""
        with _write(self.conn):
            cur = self.conn.execute(
                "UPDATE link_outbox SET next_at = ? WHERE contact = ? AND next_at > ?",
                (now, contact, now),
            )
        return cur.rowcount

    def persist_for(self, contact: bytes, msg_ids: Iterable[bytes], now: float) -> Persist:
        """A ``persist`` for Session.seal/dummy/open: state, records and mark_sent at once."""
        ids = tuple(msg_ids)

        def persist(state: bytes, records: list[bytes]) -> None:
            with _write(self.conn):
                save_session_state(self.conn, contact, state)
                journal_records(self.conn, contact, records)
                for msg_id in ids:
                    self.mark_sent(msg_id, now)

        return persist
