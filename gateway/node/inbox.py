"""Direct messages between contacts: the ``inbox`` channel and its table in the node database.

A message body on the wire is UTF-8 JSON ``{"text": "..."}``. The link layer
delivers each tracked message to the handler once (dedupe before, ack after),
so every message is stored exactly once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import LinkError, map_exceptions
from gateway.storage.db import SQL_ERRORS, Migration, register_migration, transaction

CHANNEL = "inbox"
MAX_TEXT = 64 * 1024

register_migration(
    Migration(
        "inbox",
        1,
        "CREATE TABLE inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, contact BLOB NOT NULL,"
        " received REAL NOT NULL, text TEXT NOT NULL);",
    )
)


@dataclass(frozen=True)
class InboxMessage:
    id: int
    contact: bytes
    received: float
    text: str


def encode_text(text: str) -> bytes:
    if len(text.encode("utf-8")) > MAX_TEXT:
        raise LinkError(f"message text over {MAX_TEXT} bytes")
    return json.dumps({"text": text}, ensure_ascii=False).encode("utf-8")


class Inbox:
    """Received direct messages."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] = time.time) -> None:
        self.conn = conn
        self.clock = clock

    def handler(self, contact: bytes, body: bytes) -> None:
        """The ``inbox`` channel handler: store one message (LinkError if malformed)."""
        try:
            text = json.loads(body.decode("utf-8"))["text"]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise LinkError(f"malformed inbox message: {type(exc).__name__}") from exc
        if not isinstance(text, str) or len(body) > MAX_TEXT + 64:
            raise LinkError("malformed inbox message")
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO inbox (contact, received, text) VALUES (?, ?, ?)",
                (contact, self.clock(), text),
            )

    def list(self, *, after: int = 0, limit: int = 1000) -> list[InboxMessage]:
        with map_exceptions(SQL_ERRORS):
            rows = self.conn.execute(
                "SELECT id, contact, received, text FROM inbox WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [InboxMessage(int(i), bytes(c), float(r), str(t)) for i, c, r, t in rows]
