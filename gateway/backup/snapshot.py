"""Read a node's state for a backup: key files, client-auth files, consistent database copies."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.backup.container import (
    AUTH_DIR,
    AUTH_PRIVATE_DIR,
    KEY_FILES,
    MEMORY_DB,
    NODE_DB,
    check_name,
)
from gateway.backup.sessions import Neutralised, drop_sessions, renew_sender_epochs
from gateway.errors import BackupError, CorruptArchiveError
from gateway.state.paths import StatePaths, read_private

BUSY_TIMEOUT_S = 10.0


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of the database at ``source`` (a node may be writing it).

    SQLite's online backup API reads a snapshot; the copy is a single file
    (rollback journal, no WAL).
    """
    try:
        src = sqlite3.connect(source.as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy database {source}: {exc}") from exc


def copy_without_sessions(source: Path, target: Path) -> Neutralised:
    """:func:`copy_database`, then the copy's link sessions dropped."""
    copy_database(source, target)
    return neutralise(target, renew_epochs=False)


def neutralise(path: Path, *, renew_epochs: bool) -> Neutralised:
    """Drop the link sessions in the database file at ``path`` (and renew sender epochs)."""
    try:
        conn = sqlite3.connect(path)
        try:
            dropped = drop_sessions(conn)
            epochs = renew_sender_epochs(conn) if renew_epochs else 0
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise CorruptArchiveError(f"database {path.name}: {exc}") from exc
    return Neutralised(dropped.sessions, dropped.journaled, epochs)


def read_state_files(paths: StatePaths, workdir: Path) -> tuple[dict[str, bytes], Neutralised]:
    """Every file a backup holds except the manifest and config; sessions dropped from node.db."""
    files = {name: read_private(paths.root / name) for name in KEY_FILES}
    dropped = Neutralised(0, 0)
    if paths.db.exists():  # made with the first contact or the first run
        node_copy = workdir / NODE_DB
        dropped = copy_without_sessions(paths.db, node_copy)
        files[NODE_DB] = _read(node_copy)
    if paths.memory_db.exists():
        memory_copy = workdir / MEMORY_DB
        copy_database(paths.memory_db, memory_copy)
        files[MEMORY_DB] = _read(memory_copy)
    for folder, suffix in ((AUTH_DIR, ".auth"), (AUTH_PRIVATE_DIR, ".auth_private")):
        files.update(_auth_files(paths.root, folder, suffix))
    return files, dropped


def _auth_files(root: Path, folder: str, suffix: str) -> dict[str, bytes]:
    directory = root / folder
    if not directory.is_dir():
        return {}
    found: dict[str, bytes] = {}
    for path in sorted(directory.iterdir()):
        name = f"{folder}/{path.name}"
        if path.name.endswith(suffix) and path.is_file() and not path.is_symlink():
            try:
                check_name(name)
            except CorruptArchiveError:
                raise BackupError(f"{path}: not a client-authorization file name") from None
            found[name] = read_private(path)
    return found


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from exc
