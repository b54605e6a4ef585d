"""DbSessionStore: a session step is stored only over the record it follows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.errors import SessionStateError
from gateway.link import dedupe, outbox
from gateway.link.dbstore import DbSessionStore
from gateway.link.outbox import Outbox, journaled_records
from gateway.link.stored import StoredSession
from gateway.storage.db import apply_migrations, open_db

BOB = b"b" * 32
FIRST = StoredSession(b"\x01" * 32, 1, 0, b"state 0")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DbSessionStore]:
    conn = open_db(tmp_path / "node.db")
    apply_migrations(conn, [outbox.MIGRATION, dedupe.MIGRATION])
    yield DbSessionStore(conn, Outbox(conn))
    conn.close()


def attempts(store: DbSessionStore, msg_id: bytes) -> int:
    found = store.outbox.get(msg_id)
    assert found is not None
    return found.attempts


def journal(store: DbSessionStore) -> list[bytes]:
    return [record for _, record in journaled_records(store.conn, BOB)]


def test_steps_in_order_are_stored(store: DbSessionStore) -> None:
    store.save(BOB, FIRST, [])
    second = FIRST.advanced(b"state 1", sent=1)
    store.save(BOB, second, [b"record 1"], replaces=FIRST)
    third = second.advanced(b"state 2", received=1)
    store.save(BOB, third, [], replaces=second)
    assert store.load(BOB) == third
    assert journal(store) == [b"record 1"]


def test_a_stale_copy_stores_nothing(store: DbSessionStore) -> None:
    msg_id = store.outbox.enqueue(BOB, "inbox", b"hello", now=1.0)
    store.save(BOB, FIRST, [])
    assert attempts(store, msg_id) == 0
    ahead = FIRST.advanced(b"state 1 (the other link)", sent=1)
    store.save(BOB, ahead, [b"record of the other link"], replaces=FIRST)
    stale = FIRST.advanced(b"state 1 (this link)", sent=1)
    with pytest.raises(SessionStateError, match="stale"):
        store.save(BOB, stale, [b"same key again"], [msg_id], replaces=FIRST)
    # nothing of the refused step: the session, the journal and the outbox are as they were
    assert store.load(BOB) == ahead
    assert journal(store) == [b"record of the other link"]
    assert attempts(store, msg_id) == 0


def test_a_record_of_another_session_is_replaced(store: DbSessionStore) -> None:
    store.save(BOB, StoredSession(b"\x02" * 32, 1, 0, b"fresh, of a losing connection"), [])
    second = FIRST.advanced(b"state 1", sent=1)
    store.save(BOB, second, [b"r"], replaces=FIRST)
    assert store.load(BOB) == second


def test_an_unreadable_record_is_replaced(store: DbSessionStore) -> None:
    outbox.save_session_state(store.conn, BOB, b"\x09garbage")
    second = FIRST.advanced(b"state 1", sent=1)
    store.save(BOB, second, [], replaces=FIRST)
    assert store.load(BOB) == second


def test_a_refused_step_leaves_no_open_transaction(store: DbSessionStore) -> None:
    store.save(BOB, FIRST, [])
    store.save(BOB, FIRST.advanced(b"x", sent=1), [], replaces=FIRST)
    with pytest.raises(SessionStateError):
        store.save(BOB, FIRST.advanced(b"y", sent=1), [], replaces=FIRST)
    assert isinstance(store.conn, sqlite3.Connection) and not store.conn.in_transaction
