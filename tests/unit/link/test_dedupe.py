"""Receiver dedupe: duplicates dropped across reopen, bounded growth, epochs."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import LinkError
from gateway.link import dedupe, outbox
from gateway.link.dedupe import Dedupe, Verdict
from gateway.link.messages import UNTRACKED, make_msg_id
from gateway.storage.db import apply_migrations, open_db

ALICE = b"a" * 32
EPOCH = b"epoch-01"


def open_dedupe(path: Path, **kw: int) -> tuple[sqlite3.Connection, Dedupe]:
    conn = open_db(path)
    apply_migrations(conn, [outbox.MIGRATION, dedupe.MIGRATION])
    return conn, Dedupe(conn, **kw)


def test_duplicates_are_dropped_across_reopen(tmp_path: Path) -> None:
    conn, dd = open_dedupe(tmp_path / "n.db")
    ids = [make_msg_id(EPOCH, c) for c in (1, 2, 5)]
    assert [dd.record(ALICE, m, 0.0) for m in ids] == [Verdict.NEW] * 3
    conn.close()
    conn, dd = open_dedupe(tmp_path / "n.db")
    assert [dd.check(ALICE, m) for m in ids] == [Verdict.DUPLICATE] * 3
    assert dd.record(ALICE, ids[0], 1.0) is Verdict.DUPLICATE
    assert dd.check(ALICE, make_msg_id(EPOCH, 3)) is Verdict.NEW
    assert dd.check(b"other", ids[0]) is Verdict.NEW  # per contact
    conn.close()


def test_high_water_mark_compacts(tmp_path: Path) -> None:
    conn, dd = open_dedupe(tmp_path / "n.db")
    for c in [3, 4, 5, 2]:
        dd.record(ALICE, make_msg_id(EPOCH, c), 0.0)
    assert dd.stored(ALICE) == 1 + 4  # epoch row + 2..5 above high 0
    dd.record(ALICE, make_msg_id(EPOCH, 1), 0.0)
    assert dd.stored(ALICE) == 1  # high = 5, nothing above
    assert dd.check(ALICE, make_msg_id(EPOCH, 5)) is Verdict.DUPLICATE
    conn.close()


def test_window_bounds_growth(tmp_path: Path) -> None:
    conn, dd = open_dedupe(tmp_path / "n.db", window=8)
    assert dd.record(ALICE, make_msg_id(EPOCH, 1), 0.0) is Verdict.NEW
    assert dd.record(ALICE, make_msg_id(EPOCH, 10), 0.0) is Verdict.OUT_OF_WINDOW
    assert dd.check(ALICE, make_msg_id(EPOCH, 10)) is Verdict.OUT_OF_WINDOW  # not recorded
    for c in range(3, 10):
        assert dd.record(ALICE, make_msg_id(EPOCH, c), 0.0) is Verdict.NEW
    assert dd.stored(ALICE) <= 1 + 8
    dd.record(ALICE, make_msg_id(EPOCH, 2), 0.0)
    assert dd.record(ALICE, make_msg_id(EPOCH, 10), 0.0) is Verdict.NEW  # window moved
    assert dd.stored(ALICE) == 1
    conn.close()


def test_epochs_are_bounded(tmp_path: Path) -> None:
    conn, dd = open_dedupe(tmp_path / "n.db", max_epochs=2)
    epochs = [b"epoch-%02d" % i for i in range(5)]
    for t, e in enumerate(epochs):
        dd.record(ALICE, make_msg_id(e, 1), float(t))
    assert dd.stored(ALICE) == 2
    assert dd.check(ALICE, make_msg_id(epochs[-1], 1)) is Verdict.DUPLICATE
    assert dd.check(ALICE, make_msg_id(epochs[0], 1)) is Verdict.NEW  # forgotten
    conn.close()


def test_unknown_epoch_far_ahead_is_not_blocked(tmp_path: Path) -> None:
    conn, dd = open_dedupe(tmp_path / "n.db", window=16)
    msg = make_msg_id(EPOCH, 10_000)
    assert dd.record(ALICE, msg, 0.0) is Verdict.NEW
    assert dd.record(ALICE, msg, 0.0) is Verdict.DUPLICATE
    assert dd.record(ALICE, make_msg_id(EPOCH, 10_001), 0.0) is Verdict.NEW
    conn.close()


def test_invalid_ids(tmp_path: Path) -> None:
    conn, dd = open_dedupe(tmp_path / "n.db")
    with pytest.raises(LinkError):
        dd.check(ALICE, UNTRACKED)
    assert dd.check(ALICE, EPOCH + bytes(8)) is Verdict.INVALID
    assert dd.record(ALICE, EPOCH + b"\xff" * 8, 0.0) is Verdict.INVALID
    conn.close()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=120))
def test_each_message_is_new_exactly_once(order: list[int]) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    apply_migrations(conn, [dedupe.MIGRATION])
    dd = Dedupe(conn, window=64)
    new = [c for c in order if dd.record(ALICE, make_msg_id(EPOCH, c), 0.0) is Verdict.NEW]
    assert sorted(new) == sorted(set(order))
    assert dd.stored(ALICE) <= 1 + len(set(order))
    conn.close()


def test_forget_contact(tmp_path: Path) -> None:
    conn, dd = open_dedupe(tmp_path / "n.db")
    rng = random.Random(1)
    for c in rng.sample(range(1, 100), 30):
        dd.record(ALICE, make_msg_id(EPOCH, c), 0.0)
    dd.forget_contact(ALICE)
    assert dd.stored(ALICE) == 0
    conn.close()
