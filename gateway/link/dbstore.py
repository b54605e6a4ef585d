"""The link's session store on the node database (implements protocol.SessionStore).

One transaction per send: the contact's session record, the records it sealed
(journaled until they are written to the connection) and the ``mark_sent`` of
the outbox messages they carry. Records already written are released inside
the next transaction, so a send costs one durable commit.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence

from gateway.errors import SessionStateError, VersionError, map_exceptions
from gateway.link.outbox import (
    Outbox,
    journal_records,
    load_session_state,
    release_records,
    save_session_state,
)
from gateway.link.stored import StoredSession, check_successor, decode_stored
from gateway.storage.db import SQL_ERRORS, transaction

log = logging.getLogger("gateway.link")


class DbSessionStore:
    """Sessions, the wire journal and outbox marks in one SQLite connection."""

    def __init__(
        self, conn: sqlite3.Connection, outbox: Outbox, clock: Callable[[], float] = time.time
    ) -> None:
        self.conn = conn
        self.outbox = outbox
        self.clock = clock
        #: highest journal seq per contact known to be written to a connection
        self._written: dict[bytes, int] = {}

    def load(self, contact: bytes) -> StoredSession | None:
        blob = load_session_state(self.conn, contact)
        if blob is None:
            return None
        try:
            return decode_stored(blob)
        except (SessionStateError, VersionError) as exc:
            log.warning("stored session unusable, a new one will be made: %s", exc)
            return None

    def save(
        self,
        contact: bytes,
        stored: StoredSession,
        records: Sequence[bytes],
        msg_ids: Sequence[bytes] = (),
        *,
        replaces: StoredSession | None = None,
    ) -> None:
        now = self.clock()
        with transaction(self.conn):
            if replaces is not None:
                check_successor(load_session_state(self.conn, contact), replaces)
            written = self._written.pop(contact, None)
            if written is not None:
                release_records(self.conn, contact, written)
            save_session_state(self.conn, contact, stored.encode())
            if records:
                journal_records(self.conn, contact, records)
            for msg_id in msg_ids:
                self.outbox.mark_sent(msg_id, now)

    def drop(self, contact: bytes) -> None:
        with transaction(self.conn):
            self.conn.execute("DELETE FROM link_sessions WHERE contact = ?", (contact,))
            release_records(self.conn, contact)
        self._written.pop(contact, None)

    def wrote_all(self, contact: bytes) -> None:
        """Everything journaled for ``contact`` so far was written to its connection."""
        with map_exceptions(SQL_ERRORS):
            row = self.conn.execute(
                "SELECT MAX(seq) FROM link_wire WHERE contact = ?", (contact,)
            ).fetchone()
        if row and row[0] is not None:
            self._written[contact] = int(row[0])
