"""Receiver-side dedupe of tracked messages: durable, with bounded growth.

A tracked message id is ``epoch (8) || counter`` (see :mod:`gateway.link.outbox`).
Per (contact, epoch) the store keeps a high-water mark ``high`` (every counter
``<= high`` was received) and the counters above it that were received, which
are at most ``window``: a counter beyond ``high + window`` is refused
(``OUT_OF_WINDOW``: not delivered, not acknowledged, so the sender retries it
later, once the gap below it has filled). When the counter right above ``high``
arrives, ``high`` moves up over every contiguous counter and their rows go.

At most ``max_epochs`` epochs are kept per contact (the least recently seen goes
first). An epoch the store does not know starts at ``high = 0``, or just below
the first counter seen if that lies beyond the window (an epoch forgotten long
ago must not block its sender forever).

Use: :meth:`Dedupe.check` before handling; after the handler has done its work,
:meth:`Dedupe.record` (ideally in the same transaction as the handler's writes),
then acknowledge. A ``DUPLICATE`` is dropped but still acknowledged.
"""

from __future__ import annotations

import contextlib
import enum
import sqlite3
from collections.abc import Iterator

from gateway.errors import LinkError, map_exceptions
from gateway.link.messages import MSG_ID_SIZE, UNTRACKED, split_msg_id
from gateway.storage.db import SQL_ERRORS, Migration, register_migration, transaction

SCHEMA = """
CREATE TABLE link_dedupe_epochs (
    contact BLOB NOT NULL, epoch BLOB NOT NULL, high INTEGER NOT NULL,
    last_seen REAL NOT NULL, PRIMARY KEY (contact, epoch));
CREATE TABLE link_dedupe_seen (
    contact BLOB NOT NULL, epoch BLOB NOT NULL, counter INTEGER NOT NULL,
    PRIMARY KEY (contact, epoch, counter));
"""
MIGRATION = Migration("link_dedupe", 1, SCHEMA)
register_migration(MIGRATION)

DEFAULT_WINDOW = 4096
DEFAULT_MAX_EPOCHS = 4
#: counters at or above this are refused (they would not fit SQLite's integers)
MAX_COUNTER = 1 << 62


class Verdict(enum.Enum):
    """What to do with an arriving tracked message."""

    NEW = "new"  # handle it, then record and acknowledge
    DUPLICATE = "duplicate"  # drop it, acknowledge it
    OUT_OF_WINDOW = "out_of_window"  # drop it, do not acknowledge (the sender retries)
    INVALID = "invalid"  # counter 0 or too large: drop it


@contextlib.contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[None]:
    if conn.in_transaction:
        with map_exceptions(SQL_ERRORS):
            yield
    else:
        with transaction(conn):
            yield


class Dedupe:
    """The received-message memory of all contacts, in the node database."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        window: int = DEFAULT_WINDOW,
        max_epochs: int = DEFAULT_MAX_EPOCHS,
    ) -> None:
        if window < 1 or max_epochs < 1:
            raise LinkError(f"dedupe needs window >= 1 and max_epochs >= 1: {window}, {max_epochs}")
        self.conn = conn
        self.window = window
        self.max_epochs = max_epochs

    def _high(self, contact: bytes, epoch: bytes) -> int | None:
        row = self.conn.execute(
            "SELECT high FROM link_dedupe_epochs WHERE contact = ? AND epoch = ?",
            (contact, epoch),
        ).fetchone()
        return None if row is None else int(row[0])

    def _start_high(self, counter: int) -> int:
        return 0 if counter <= self.window else counter - 1

    def _verdict(self, contact: bytes, msg_id: bytes) -> tuple[Verdict, bytes, int, int | None]:
        if len(msg_id) != MSG_ID_SIZE or msg_id == UNTRACKED:
            raise LinkError("dedupe: not a tracked message id")
        epoch, counter = split_msg_id(msg_id)
        if not 0 < counter < MAX_COUNTER:
            return Verdict.INVALID, epoch, counter, None
        high = self._high(contact, epoch)
        base = self._start_high(counter) if high is None else high
        if counter <= base:
            return Verdict.DUPLICATE, epoch, counter, high
        if counter > base + self.window:
            return Verdict.OUT_OF_WINDOW, epoch, counter, high
        seen = self.conn.execute(
            "SELECT 1 FROM link_dedupe_seen WHERE contact = ? AND epoch = ? AND counter = ?",
            (contact, epoch, counter),
        ).fetchone()
        return (Verdict.DUPLICATE if seen else Verdict.NEW), epoch, counter, high

    def check(self, contact: bytes, msg_id: bytes) -> Verdict:
        """What to do with ``msg_id`` from ``contact`` (records nothing)."""
        with map_exceptions(SQL_ERRORS):
            return self._verdict(contact, msg_id)[0]

    def record(self, contact: bytes, msg_id: bytes, now: float) -> Verdict:
        """Remember ``msg_id`` as received if it is NEW; the verdict it had before."""
        with _write(self.conn):
            verdict, epoch, counter, high = self._verdict(contact, msg_id)
            if verdict is Verdict.NEW:
                if high is None:
                    high = self._new_epoch(contact, epoch, counter, now)
                self._insert(contact, epoch, counter, high, now)
        return verdict

    def _new_epoch(self, contact: bytes, epoch: bytes, counter: int, now: float) -> int:
        old = self.conn.execute(
            "SELECT epoch FROM link_dedupe_epochs WHERE contact = ? ORDER BY last_seen DESC",
            (contact,),
        ).fetchall()
        for (gone,) in old[self.max_epochs - 1 :]:
            self._forget(contact, bytes(gone))
        high = self._start_high(counter)
        self.conn.execute(
            "INSERT INTO link_dedupe_epochs VALUES (?, ?, ?, ?)", (contact, epoch, high, now)
        )
        return high

    def _forget(self, contact: bytes, epoch: bytes) -> None:
        for table in ("link_dedupe_epochs", "link_dedupe_seen"):
            self.conn.execute(
                f"DELETE FROM {table} WHERE contact = ? AND epoch = ?",  # noqa: S608
                (contact, epoch),
            )

    def _insert(self, contact: bytes, epoch: bytes, counter: int, high: int, now: float) -> None:
        key = (contact, epoch)
        if counter == high + 1:
            high = counter
            while self.conn.execute(
                "DELETE FROM link_dedupe_seen WHERE contact = ? AND epoch = ? AND counter = ?",
                (*key, high + 1),
            ).rowcount:
                high += 1
        else:
            self.conn.execute("INSERT INTO link_dedupe_seen VALUES (?, ?, ?)", (*key, counter))
        self.conn.execute(
            "UPDATE link_dedupe_epochs SET high = ?, last_seen = ? WHERE contact = ? AND epoch = ?",
            (high, now, *key),
        )

    def stored(self, contact: bytes) -> int:
        """Rows kept for ``contact`` (epochs plus counters above their marks)."""
        with map_exceptions(SQL_ERRORS):
            epochs = self.conn.execute(
                "SELECT count(*) FROM link_dedupe_epochs WHERE contact = ?", (contact,)
            ).fetchone()[0]
            seen = self.conn.execute(
                "SELECT count(*) FROM link_dedupe_seen WHERE contact = ?", (contact,)
            ).fetchone()[0]
        return int(epochs) + int(seen)

    def forget_contact(self, contact: bytes) -> None:
        """Drop everything remembered about ``contact`` (the contact was removed)."""
        with _write(self.conn):
            self.conn.execute("DELETE FROM link_dedupe_epochs WHERE contact = ?", (contact,))
            self.conn.execute("DELETE FROM link_dedupe_seen WHERE contact = ?", (contact,))
