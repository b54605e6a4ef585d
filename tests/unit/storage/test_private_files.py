"""Every database file of the state directory is 0600: node.db, memory.db and their WAL."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway.memory.store import MemoryStore
from gateway.storage.db import create_private, open_db


def modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}


@pytest.fixture(autouse=True)
def open_umask() -> object:
    """A umask that would make new files 0644, as a login shell's does."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_memory_store_files_are_private(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "memory.db")
    try:
        found = modes(tmp_path)
        assert {"memory.db", "memory.db-wal", "memory.db-shm"} <= set(found)
        assert set(found.values()) == {0o600}, found
    finally:
        store.close()


def test_node_db_files_are_private(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "node.db")
    try:
        conn.execute("CREATE TABLE t (x)")
        found = modes(tmp_path)
        assert {"node.db", "node.db-wal"} <= set(found)
        assert set(found.values()) == {0o600}, found
    finally:
        conn.close()


def test_an_older_world_readable_store_is_made_private(tmp_path: Path) -> None:
    """A memory.db written by an earlier version (0644, with its WAL) is fixed on open."""
    for name in ("memory.db", "memory.db-wal"):
        (tmp_path / name).write_bytes(b"")
        (tmp_path / name).chmod(0o644)
    create_private(tmp_path / "memory.db")
    assert set(modes(tmp_path).values()) == {0o600}
