"""RoundStore: round views in the node database (save, get, find by prefix, list)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import DatabaseError, RoundError
from gateway.node.roundstore import RoundStore
from gateway.storage.db import apply_migrations, open_db, schema_versions


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = open_db(tmp_path / "node.db")
    apply_migrations(db)
    yield db
    db.close()


@pytest.fixture
def store(conn: sqlite3.Connection) -> RoundStore:
    return RoundStore(conn)


def rid(n: int) -> bytes:
    return bytes([n]) * 32


def view(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "round_id": rid(n).hex(),
        "role": "asker",
        "question": f"question {n} ‽",
        "stage": "commit",
        "status": "running",
        "created": 1000.0 + n,
        "faults": [],
        **extra,
    }


def test_the_migration_is_registered(conn: sqlite3.Connection) -> None:
    assert schema_versions(conn)["rounds"] == 1


def test_save_then_get_returns_the_view(store: RoundStore) -> None:
    v = view(1, result={"text": "x", "ranked": [{"points": 2}]})
    store.save(rid(1), "asker", v["created"], v)
    assert store.get(rid(1)) == v


def test_save_replaces_the_earlier_view(store: RoundStore, conn: sqlite3.Connection) -> None:
    store.save(rid(1), "asker", 1001.0, view(1))
    store.save(rid(1), "asker", 1001.0, view(1, status="ok", stage="done"))
    assert store.get(rid(1))["status"] == "ok"
    assert conn.execute("SELECT count(*) FROM rounds").fetchone()[0] == 1


def test_get_of_an_unknown_round_is_a_round_error(store: RoundStore) -> None:
    with pytest.raises(RoundError, match=rid(9).hex()):
        store.get(rid(9))


def test_find_by_prefix_any_case(store: RoundStore) -> None:
    a, b = b"\xab\xcd" + bytes(30), b"\xab\xce" + bytes(30)
    store.save(a, "asker", 1.0, view(1))
    store.save(b, "participant", 2.0, view(2))
    assert store.find("abcd0000") == a
    assert store.find(" ABCE0000 ") == b
    assert store.find(a.hex()) == a


@pytest.mark.parametrize("prefix", ["abc", "", "zzzzzzzz", "abcd000%", "abcd_000", "abcd 0000"])
def test_find_refuses_short_or_non_hex_prefixes(store: RoundStore, prefix: str) -> None:
    store.save(b"\xab\xcd" + bytes(30), "asker", 1.0, view(1))
    with pytest.raises(RoundError, match="hex"):
        store.find(prefix)


def test_find_needs_exactly_one_match(store: RoundStore) -> None:
    store.save(b"\xab\xcd" + bytes(30), "asker", 1.0, view(1))
    store.save(b"\xab\xcd\x00\x00" + b"\x01" * 28, "asker", 2.0, view(2))
    with pytest.raises(RoundError, match="2 rounds match"):
        store.find("abcd0000")
    with pytest.raises(RoundError, match="0 rounds match"):
        store.find("12345678")


def test_list_gives_newest_first_summaries(store: RoundStore) -> None:
    for n in (1, 3, 2):
        store.save(rid(n), "asker", 1000.0 + n, view(n, result={"big": "x" * 100}))
    rounds = store.list()
    assert [r["round_id"] for r in rounds] == [rid(3).hex(), rid(2).hex(), rid(1).hex()]
    assert set(rounds[0]) == {"round_id", "role", "question", "stage", "status", "created"}
    assert rounds[0]["question"] == "question 3 ‽"
    assert [r["round_id"] for r in store.list(limit=1)] == [rid(3).hex()]


def test_list_of_an_empty_store(store: RoundStore) -> None:
    assert store.list() == []


def test_database_errors_are_mapped(store: RoundStore, conn: sqlite3.Connection) -> None:
    conn.close()
    with pytest.raises(DatabaseError):
        store.save(rid(1), "asker", 1.0, view(1))
    with pytest.raises(DatabaseError):
        store.list()
