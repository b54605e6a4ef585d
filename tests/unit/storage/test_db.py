"""The node database: pragmas, the migrations registry, transactions."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from gateway.errors import DatabaseError
from gateway.storage import db as dbmod
from gateway.storage.db import (
    Migration,
    apply_migrations,
    open_db,
    register_migration,
    schema_versions,
    split_statements,
    transaction,
)

V1 = Migration("demo", 1, "CREATE TABLE a (x INTEGER);\nCREATE INDEX a_x ON a (x);")
V2 = Migration("demo", 2, "ALTER TABLE a ADD COLUMN y TEXT; CREATE TABLE b (z BLOB);")


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r[0] for r in rows}


def test_open_db_sets_the_pragmas_and_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    conn = open_db(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == dbmod.BUSY_TIMEOUT_MS
        assert conn.isolation_level is None
    finally:
        conn.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_open_db_on_a_folder_is_a_database_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="cannot open database"):
        open_db(tmp_path)


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "n.db")
    conn.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE c (p INTEGER REFERENCES p (id))")
    with pytest.raises(DatabaseError, match="FOREIGN KEY"), transaction(conn):
        conn.execute("INSERT INTO c VALUES (7)")
    conn.close()


def test_migrations_apply_once_and_are_idempotent(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "n.db")
    assert apply_migrations(conn, [V1]) == {"demo": 1}
    assert "a" in _tables(conn)
    conn.execute("INSERT INTO a VALUES (1)")
    assert apply_migrations(conn, [V1]) == {"demo": 1}  # no error, nothing re-run
    assert apply_migrations(conn, [V2, V1]) == {"demo": 2}
    assert apply_migrations(conn, [V1, V2]) == {"demo": 2}
    assert {"a", "b"} <= _tables(conn)
    assert conn.execute("SELECT x, y FROM a").fetchall() == [(1, None)]
    conn.close()
    reopened = open_db(tmp_path / "n.db")
    assert schema_versions(reopened) == {"demo": 2}
    reopened.close()


def test_a_failing_step_rolls_back_the_whole_batch(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "n.db")
    bad = Migration("demo", 2, "CREATE TABLE b (z BLOB); INSERT INTO nowhere VALUES (1);")
    other = Migration("other", 1, "CREATE TABLE o (i INTEGER);")
    with pytest.raises(DatabaseError, match="nowhere"):
        apply_migrations(conn, [other, V1, bad])
    assert not {"a", "b", "o"} & _tables(conn)
    assert schema_versions(conn) == {}
    conn.close()


def test_a_newer_database_and_version_gaps_are_refused(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "n.db")
    apply_migrations(conn, [V1, V2])
    with pytest.raises(DatabaseError, match="newer than this gateway knows"):
        apply_migrations(conn, [V1])
    with pytest.raises(DatabaseError, match=r"expected versions 1..n, got \[1, 3\]"):
        apply_migrations(conn, [V1, Migration("demo", 3, "SELECT 1;")])
    conn.close()


def test_registry_keeps_one_definition_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbmod, "_REGISTRY", {})
    register_migration(V1)
    register_migration(V1)  # same step again: no-op
    assert dbmod.registered_migrations() == (V1,)
    with pytest.raises(DatabaseError, match="already registered"):
        register_migration(Migration("demo", 1, "CREATE TABLE other (i);"))


def test_the_registry_holds_the_contacts_schema(tmp_path: Path) -> None:
    import gateway.contacts.book  # noqa: F401  (registers its schema on import)

    conn = open_db(tmp_path / "n.db")
    versions = apply_migrations(conn)
    assert versions["contacts"] >= 1
    assert {"contacts", "invites", "used_secrets"} <= _tables(conn)
    assert apply_migrations(conn) == versions
    conn.close()


@pytest.mark.parametrize(
    ("name", "version", "sql", "message"),
    [
        ("Bad-Name", 1, "SELECT 1", "migration name"),
        ("ok", 0, "SELECT 1", "versions start at 1"),
        ("ok", 1, "  ", "no SQL"),
    ],
)
def test_bad_migrations_are_refused(name: str, version: int, sql: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        Migration(name, version, sql)


def test_split_statements_keeps_triggers_and_strings_whole() -> None:
    sql = """
    CREATE TABLE t (s TEXT);  -- a comment; with a semicolon
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET s = 'a;b' WHERE rowid = new.rowid;
        SELECT 1;
    END;
    INSERT INTO t VALUES ('x;y')
    """
    parts = split_statements(sql)
    assert len(parts) == 3
    assert "CREATE TRIGGER" in parts[1] and parts[1].endswith("END;")
    assert parts[2] == "INSERT INTO t VALUES ('x;y');"
    with pytest.raises(DatabaseError, match="incomplete"):
        split_statements("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1;")


def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "n.db")
    conn.execute("CREATE TABLE t (i INTEGER)")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("boom")
    with pytest.raises(DatabaseError), transaction(conn):
        conn.execute("INSERT INTO missing VALUES (3)")
    assert conn.execute("SELECT i FROM t").fetchall() == [(1,)]
    assert not conn.in_transaction
    conn.close()


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM nest").fetchone()[0])


def test_a_nested_transaction_commits_with_the_outer_one(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "n.db")
    conn.execute("CREATE TABLE nest (x INTEGER)")
    with transaction(conn):
        conn.execute("INSERT INTO nest VALUES (1)")
        with transaction(conn):
            conn.execute("INSERT INTO nest VALUES (2)")
        assert conn.in_transaction  # the inner one did not commit on its own
    assert _count(conn) == 2


def test_a_failing_nested_transaction_rolls_back_only_its_writes(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "n.db")
    conn.execute("CREATE TABLE nest (x INTEGER)")
    with transaction(conn):
        conn.execute("INSERT INTO nest VALUES (1)")
        with pytest.raises(ValueError), transaction(conn):
            conn.execute("INSERT INTO nest VALUES (2)")
            raise ValueError("inner fails")
    assert [r[0] for r in conn.execute("SELECT x FROM nest")] == [1]


def test_a_crash_after_the_inner_work_loses_all_of_it(tmp_path: Path) -> None:
    """A handler's writes and the dedupe record are one step: no half of it survives."""
    conn = open_db(tmp_path / "n.db")
    conn.execute("CREATE TABLE nest (x INTEGER)")
    with pytest.raises(RuntimeError), transaction(conn):
        with transaction(conn):  # the handler's own transaction
            conn.execute("INSERT INTO nest VALUES (1)")
        raise RuntimeError("killed before the dedupe record was written")
    assert _count(conn) == 0
