"""Convergence rounds this node asked or took part in, as JSON views in the node database."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from gateway.errors import RoundError, map_exceptions
from gateway.storage.db import SQL_ERRORS, Migration, register_migration, transaction

register_migration(
    Migration(
        "rounds",
        1,
        "CREATE TABLE rounds (round_id BLOB PRIMARY KEY, role TEXT NOT NULL,"
        " created REAL NOT NULL, updated REAL NOT NULL, view TEXT NOT NULL);"
        "CREATE INDEX rounds_created ON rounds (created);",
    )
)


class RoundStore:
    """Saves and reads round views (what ``gateway rounds list|show`` prints)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def save(self, round_id: bytes, role: str, created: float, view: dict[str, Any]) -> None:
        """Insert or replace the view of one round."""
        text = json.dumps(view, ensure_ascii=False, sort_keys=True)
        with map_exceptions(SQL_ERRORS), transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?)",
                (round_id, role, created, time.time(), text),
            )

    def get(self, round_id: bytes) -> dict[str, Any]:
        """The view of one round; RoundError if unknown."""
        with map_exceptions(SQL_ERRORS):
            row = self.conn.execute(
                "SELECT view FROM rounds WHERE round_id = ?", (round_id,)
            ).fetchone()
        if row is None:
            raise RoundError(f"no round {round_id.hex()}")
        view: dict[str, Any] = json.loads(row[0])
        return view

    def find(self, prefix: str) -> bytes:
        """The round id starting with the hex ``prefix`` (8+ digits); RoundError otherwise."""
        text = prefix.strip().lower()
        if len(text) < 8 or any(c not in "0123456789abcdef" for c in text):
            raise RoundError(f"a round id is hex (at least 8 digits), not {prefix[:80]!r}")
        with map_exceptions(SQL_ERRORS):
            rows = self.conn.execute(
                "SELECT round_id FROM rounds WHERE hex(round_id) LIKE ?", (text.upper() + "%",)
            ).fetchall()
        if len(rows) != 1:
            raise RoundError(f"{len(rows)} rounds match {prefix!r}")
        return bytes(rows[0][0])

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        """Summaries of the newest rounds."""
        with map_exceptions(SQL_ERRORS):
            rows = self.conn.execute(
                "SELECT view FROM rounds ORDER BY created DESC LIMIT ?", (limit,)
            ).fetchall()
        out = []
        for (text,) in rows:
            view = json.loads(text)
            keys = ("round_id", "role", "question", "stage", "status", "created")
            out.append({k: view.get(k) for k in keys})
        return out
