"""The durable outbox: ids, retry schedule, acks, crash safety, shared transactions."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.errors import DatabaseError, LinkError, QueueFullError
from gateway.link import dedupe, outbox
from gateway.link.backoff import Backoff
from gateway.link.messages import split_msg_id
from gateway.link.outbox import (
    Outbox,
    journal_records,
    journaled_records,
    load_session_state,
    release_records,
    save_session_state,
)
from gateway.storage.db import apply_migrations, open_db

ALICE = b"a" * 32
BOB = b"b" * 32


def open_outbox(path: Path, **kw: object) -> tuple[sqlite3.Connection, Outbox]:
    conn = open_db(path)
    apply_migrations(conn, [outbox.MIGRATION, dedupe.MIGRATION])
    return conn, Outbox(conn, **kw)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, Outbox]]:
    conn, box = open_outbox(
        tmp_path / "node.db", backoff=Backoff(base=10, cap=40, rng=random.Random(3))
    )
    yield conn, box
    conn.close()


def test_ids_are_epoch_and_counter_per_contact(db: tuple[sqlite3.Connection, Outbox]) -> None:
    _, box = db
    a = [box.enqueue(ALICE, "memory", b"%d" % i, now=0) for i in range(3)]
    b = box.enqueue(BOB, "memory", b"x", now=0)
    epochs = {split_msg_id(m)[0] for m in a}
    assert len(epochs) == 1
    assert [split_msg_id(m)[1] for m in a] == [1, 2, 3]
    assert split_msg_id(b) == (split_msg_id(b)[0], 1)
    assert split_msg_id(b)[0] not in epochs  # each contact its own random epoch
    assert box.pending(ALICE) == 3 and box.pending(BOB) == 1


def test_messages_survive_reopen(tmp_path: Path) -> None:
    conn, box = open_outbox(tmp_path / "node.db")
    ids = [box.enqueue(ALICE, "memory", b"body-%d" % i, now=5.0) for i in range(4)]
    conn.close()
    conn, box = open_outbox(tmp_path / "node.db")
    due = box.due(ALICE, now=5.0)
    assert [m.msg_id for m in due] == ids
    assert [m.body for m in due] == [b"body-%d" % i for i in range(4)]
    # the counter continues in the same epoch after a restart
    later = box.enqueue(ALICE, "memory", b"later", now=6.0)
    assert split_msg_id(later) == (split_msg_id(ids[0])[0], 5)
    conn.close()


def test_uncommitted_enqueue_is_gone_committed_stays(tmp_path: Path) -> None:
    conn, box = open_outbox(tmp_path / "node.db")
    kept = box.enqueue(ALICE, "memory", b"kept", now=0)
    conn.execute("BEGIN IMMEDIATE")
    box.enqueue(ALICE, "memory", b"lost", now=0)  # joins the open transaction
    conn.close()  # "crash": never committed
    conn, box = open_outbox(tmp_path / "node.db")
    assert [m.msg_id for m in box.due(ALICE, 1.0)] == [kept]
    conn.close()


def test_enqueue_is_durable_when_the_process_dies(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    conn, _ = open_outbox(path)
    conn.close()
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from gateway.link.outbox import Outbox
        from gateway.storage.db import open_db
        conn = open_db(Path({str(path)!r}))
        box = Outbox(conn)
        print(box.enqueue(b"a" * 32, "memory", b"durable", now=1.0).hex(), flush=True)
        conn.execute("BEGIN IMMEDIATE")
        box.enqueue(b"a" * 32, "memory", b"in flight", now=1.0)
        os._exit(0)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    conn, box = open_outbox(path)
    due = box.due(ALICE, 2.0)
    assert [(m.msg_id.hex(), m.body) for m in due] == [(out.strip(), b"durable")]
    conn.close()


def test_retry_schedule_follows_backoff(db: tuple[sqlite3.Connection, Outbox]) -> None:
    _, box = db
    msg = box.enqueue(ALICE, "memory", b"x", now=100.0)
    now = 100.0
    for attempt in range(6):
        assert [m.msg_id for m in box.due(ALICE, now)] == [msg]
        box.mark_sent(msg, now)
        stored = box.get(msg)
        assert stored is not None and stored.attempts == attempt + 1
        wait = stored.next_at - now
        assert 0 <= wait <= box.backoff.ceiling(attempt)
        if wait > 0:
            assert box.due(ALICE, now + wait * 0.99) == []
        assert box.next_due(ALICE) == stored.next_at
        now = stored.next_at
    box.reschedule(ALICE, 0.0)
    assert box.next_due(ALICE) == 0.0


def test_ack_deletes_only_the_contacts_messages(db: tuple[sqlite3.Connection, Outbox]) -> None:
    _, box = db
    a1, a2 = box.enqueue(ALICE, "memory", b"1", 0), box.enqueue(ALICE, "memory", b"2", 0)
    b1 = box.enqueue(BOB, "memory", b"3", 0)
    assert box.ack(BOB, [a1]) == 0  # bob cannot ack alice's messages
    assert box.ack(ALICE, [a1, b1, a1]) == 1
    assert [m.msg_id for m in box.due(ALICE, 1)] == [a2]
    assert box.pending(BOB) == 1
    box.mark_sent(a1, 5.0)  # acked meanwhile: nothing happens
    assert box.get(a1) is None


def test_bad_input_and_bounds(tmp_path: Path) -> None:
    conn, box = open_outbox(tmp_path / "node.db", max_per_contact=2)
    with pytest.raises(LinkError):
        box.enqueue(ALICE, "Not A Channel", b"")
    with pytest.raises(LinkError):
        box.enqueue(b"", "memory", b"")
    box.enqueue(ALICE, "memory", b"1", 0)
    box.enqueue(ALICE, "memory", b"2", 0)
    with pytest.raises(QueueFullError):
        box.enqueue(ALICE, "memory", b"3", 0)
    assert box.pending(ALICE) == 2
    conn.close()


def test_persist_writes_state_records_and_mark_sent_together(
    db: tuple[sqlite3.Connection, Outbox],
) -> None:
    conn, box = db
    msg = box.enqueue(ALICE, "memory", b"x", now=0)
    persist = box.persist_for(ALICE, [msg], now=10.0)
    persist(b"state-1", [b"rec-1", b"rec-2"])
    assert load_session_state(conn, ALICE) == b"state-1"
    assert [r for _, r in journaled_records(conn, ALICE)] == [b"rec-1", b"rec-2"]
    stored = box.get(msg)
    assert stored is not None and stored.attempts == 1
    # a failure inside rolls back all three
    with pytest.raises(DatabaseError):
        box.persist_for(ALICE, [msg], now=20.0)(b"state-2", [b"rec-3", object()])  # type: ignore[list-item]
    assert load_session_state(conn, ALICE) == b"state-1"
    assert len(journaled_records(conn, ALICE)) == 2
    again = box.get(msg)
    assert again is not None and again.attempts == 1
    seqs = [s for s, _ in journaled_records(conn, ALICE)]
    assert release_records(conn, ALICE, seqs[0]) == 1
    assert release_records(conn, ALICE) == 1
    assert journaled_records(conn, ALICE) == []


def test_helpers_join_an_open_transaction(db: tuple[sqlite3.Connection, Outbox]) -> None:
    conn, box = db
    with pytest.raises(RuntimeError), box.transaction():
        save_session_state(conn, BOB, b"s")
        journal_records(conn, BOB, [b"r"])
        box.enqueue(BOB, "memory", b"m", 0)
        raise RuntimeError("crash before commit")
    assert load_session_state(conn, BOB) is None
    assert journaled_records(conn, BOB) == [] and box.pending(BOB) == 0
    with box.transaction():  # persist joins a transaction the link layer holds
        msg = box.enqueue(BOB, "memory", b"m", 0)
        box.persist_for(BOB, [msg], 1.0)(b"s2", [b"r2"])
    assert load_session_state(conn, BOB) == b"s2"
    assert box.pending(BOB) == 1
