"""Open the node's SQLite database and keep each subsystem's schema up to date.

:func:`open_db` opens ``<state>/node.db`` with WAL journaling, ``synchronous=FULL``,
foreign keys on and a busy timeout, in autocommit mode: every write goes through
:func:`transaction` (``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error).

Subsystems register their schema as numbered :class:`Migration` steps
(``register_migration``); :func:`apply_migrations` applies every step that a
database has not seen yet, all in one transaction, and records the version of
each subsystem in the ``schema_versions`` table. Applying twice changes nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import DatabaseError, GatewayError, map_exceptions

BUSY_TIMEOUT_MS = 5000
_SAVEPOINTS = itertools.count(1)
SQL_ERRORS: Mapping[type[BaseException], type[GatewayError]] = {sqlite3.Error: DatabaseError}

_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_VERSIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_versions ("
    " name TEXT PRIMARY KEY, version INTEGER NOT NULL CHECK (version > 0))"
)


@dataclass(frozen=True)
class Migration:
    """One schema step of a subsystem: ``version`` n turns version n-1 into n."""

    name: str
    version: int
    sql: str

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise DatabaseError(f"migration name {self.name!r}: expected [a-z][a-z0-9_]{{0,31}}")
        if self.version < 1:
            raise DatabaseError(f"migration {self.name} v{self.version}: versions start at 1")
        if not self.sql.strip():
            raise DatabaseError(f"migration {self.name} v{self.version}: no SQL")


_REGISTRY: dict[tuple[str, int], Migration] = {}


def register_migration(migration: Migration) -> None:
    """Add a step to the registry; registering the same step again is a no-op."""
    key = (migration.name, migration.version)
    known = _REGISTRY.get(key)
    if known is not None and known != migration:
        raise DatabaseError(
            f"migration {migration.name} v{migration.version} is already registered"
            " with different SQL"
        )
    _REGISTRY[key] = migration


def registered_migrations() -> tuple[Migration, ...]:
    """Every registered step, by subsystem name then version."""
    return tuple(_REGISTRY[k] for k in sorted(_REGISTRY))


def open_db(path: Path) -> sqlite3.Connection:
    """Open (or create, mode 0600) the database at ``path`` with the node's pragmas."""
    create_private(path)
    with map_exceptions(SQL_ERRORS):
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise DatabaseError(f"{path}: cannot switch to WAL journaling (got {mode})")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
    return conn


def create_private(path: Path) -> None:
    """Create an empty database file with mode 0600 unless it exists; make an existing one
    (and its ``-wal``/``-shm`` files) 0600 too. SQLite gives the files it creates beside
    a database the database file's mode, so they stay private from then on."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise DatabaseError(f"cannot open database {path}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", 0o600)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception rolls back and propagates.

    Inside an open transaction it is a SAVEPOINT instead: its writes commit with
    the outer transaction, and an exception rolls back only its own writes. So a
    caller can make several subsystems' writes one atomic step (the link layer
    does this for a channel handler's effects and the dedupe record).
    sqlite3 errors inside are raised as :class:`~gateway.errors.DatabaseError`.
    """
    if conn.in_transaction:
        with _savepoint(conn):
            yield conn
        return
    with map_exceptions(SQL_ERRORS):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


@contextlib.contextmanager
def _savepoint(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    name = f"gw_{next(_SAVEPOINTS)}"
    with map_exceptions(SQL_ERRORS):
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")


def schema_versions(conn: sqlite3.Connection) -> dict[str, int]:
    """The recorded schema version of each subsystem."""
    with map_exceptions(SQL_ERRORS):
        conn.execute(_VERSIONS_TABLE)
        return {
            name: int(v) for name, v in conn.execute("SELECT name, version FROM schema_versions")
        }


def apply_migrations(
    conn: sqlite3.Connection, migrations: Iterable[Migration] | None = None
) -> dict[str, int]:
    """Apply the steps the database lacks (all in one transaction); the versions after.

    ``migrations`` defaults to the registry. A database whose version of a
    subsystem is newer than the newest known step is refused.
    """
    steps = _by_name(registered_migrations() if migrations is None else migrations)
    with transaction(conn):
        conn.execute(_VERSIONS_TABLE)
        current = dict(conn.execute("SELECT name, version FROM schema_versions").fetchall())
        for name, chain in steps.items():
            have = int(current.get(name, 0))
            newest = chain[-1].version
            if have > newest:
                raise DatabaseError(
                    f"database schema {name} is at v{have}, newer than this gateway knows"
                    f" (v{newest}); upgrade gateway"
                )
            for step in chain[have:]:
                for statement in split_statements(step.sql):
                    conn.execute(statement)
            if newest > have:
                conn.execute(
                    "INSERT INTO schema_versions (name, version) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                    (name, newest),
                )
    return schema_versions(conn)


def _by_name(migrations: Iterable[Migration]) -> dict[str, list[Migration]]:
    """Steps grouped by subsystem, each chain checked to run 1, 2, ... n."""
    groups: dict[str, list[Migration]] = {}
    for step in migrations:
        groups.setdefault(step.name, []).append(step)
    for name, chain in groups.items():
        chain.sort(key=lambda m: m.version)
        versions = [m.version for m in chain]
        if versions != list(range(1, len(chain) + 1)):
            raise DatabaseError(f"migrations of {name}: expected versions 1..n, got {versions}")
    return groups


def split_statements(sql: str) -> list[str]:
    """The complete statements of an SQL script (semicolons inside triggers kept)."""
    statements: list[str] = []
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            body = pending[:-1].strip()
            if body.strip(";"):
                statements.append(body + ";")
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise DatabaseError(f"incomplete SQL statement in migration: {pending.strip()[:60]!r}")
    return statements
