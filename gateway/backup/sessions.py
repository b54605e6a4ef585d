"""Keep link sessions out of archives and out of restored nodes.

A backup never holds ratchet state: the copy of ``node.db`` loses its
``link_sessions`` rows and the sealed records journaled under them (with
``secure_delete`` and a VACUUM, so no old page keeps them). A restore does the
same again (an archive of another version might hold them) and gives every
contact's outbox a new sender epoch, so ids of messages the original node sent
after the backup are never used again. Unacknowledged messages stay and are
sent again, under a new session, once the link is up.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass

from gateway.link.messages import EPOCH_SIZE

SESSION_TABLES = ("link_sessions", "link_wire")
SENDERS_TABLE = "link_outbox_senders"


@dataclass(frozen=True)
class Neutralised:
    """What was dropped or renewed in one database."""

    sessions: int
    journaled: int
    epochs: int = 0


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(r[0]) for r in rows}


def drop_sessions(conn: sqlite3.Connection) -> Neutralised:
    """Delete every stored link session and its journaled records; compact the file."""
    tables = _tables(conn)
    counts = []
    conn.execute("PRAGMA secure_delete = ON")
    with conn:
        for table in SESSION_TABLES:
            if table in tables:
                counts.append(conn.execute(f"DELETE FROM {table}").rowcount)  # noqa: S608
            else:
                counts.append(0)
    conn.execute("VACUUM")
    return Neutralised(counts[0], counts[1])


def renew_sender_epochs(conn: sqlite3.Connection) -> int:
    """Give each contact's outbox a new random sender epoch; how many were renewed."""
    if SENDERS_TABLE not in _tables(conn):
        return 0
    with conn:
        rows = conn.execute(f"SELECT contact FROM {SENDERS_TABLE}").fetchall()  # noqa: S608
        contacts = [bytes(r[0]) for r in rows]
        for contact in contacts:
            conn.execute(
                f"UPDATE {SENDERS_TABLE} SET epoch = ? WHERE contact = ?",  # noqa: S608
                (secrets.token_bytes(EPOCH_SIZE), contact),
            )
    return len(contacts)
