"""The vector index of the memory store: float vectors, plus sqlite-vec for the fast scan.

Every embedded entry has a row in ``entry_vectors`` (its ``entries`` rowid, the model
name, the float32 vector): the exact copy, used to rank. With the sqlite-vec
extension loaded, a ``vec0`` table holds the sign bits of each vector, and a search
scans those bits by Hamming distance (384 bits a row: 100,000 rows in about 12 ms
on one core) for a few hundred candidates that the float vectors then rank exactly.
Both tables live in the memory store's SQLite file and are written in the same
transaction as what they index.

Python's ``sqlite3`` may be built without ``enable_load_extension`` (pyenv builds
are); then the extension is registered with ``sqlite3_auto_extension`` of the very
libsqlite3 that the module uses, before the store opens its connection.
"""

from __future__ import annotations

import ctypes
import logging
import sqlite3
import threading
from pathlib import Path

import numpy as np

from gateway.memory.embed import Vectors

log = logging.getLogger(__name__)

_lock = threading.Lock()
_registered: bool | None = None

VECTORS_SCHEMA = """
CREATE TABLE IF NOT EXISTS entry_vectors (
    rowid INTEGER PRIMARY KEY, model TEXT NOT NULL, vec BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS vector_model (one INTEGER PRIMARY KEY CHECK (one = 1),
    model TEXT NOT NULL, dim INTEGER NOT NULL);
"""


def register_sqlite_vec() -> bool:
    """Make sqlite-vec available to connections opened from now on; whether it is."""
    global _registered
    with _lock:
        if _registered is None:
            _registered = _register()
        return _registered


def _register() -> bool:
    try:
        import sqlite_vec
    except ImportError:
        log.info("memory: sqlite-vec is not installed; vectors are scanned with NumPy")
        return False
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return True  # loaded per connection by connect_hook
    library = _loaded_libsqlite()
    try:
        lib = ctypes.CDLL(library) if library else None
        ext = ctypes.CDLL(sqlite_vec.loadable_path() + ".so")
        if lib is None:
            return False
        rc = lib.sqlite3_auto_extension(ctypes.cast(ext.sqlite3_vec_init, ctypes.c_void_p))
    except (OSError, AttributeError) as exc:
        log.info("memory: cannot register sqlite-vec (%s); vectors are scanned with NumPy", exc)
        return False
    return bool(rc == 0)


def _loaded_libsqlite() -> str | None:
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            if "libsqlite3" in line:
                return line.split()[-1]
    except OSError:
        pass
    return None


def connect_hook(db: sqlite3.Connection) -> bool:
    """Load sqlite-vec into ``db`` if this Python needs it per connection; whether vec0 works."""
    if not register_sqlite_vec():
        return False
    if hasattr(db, "enable_load_extension"):
        import sqlite_vec

        try:
            db.enable_load_extension(True)
            sqlite_vec.load(db)
            db.enable_load_extension(False)
        except sqlite3.Error as exc:
            log.info("memory: cannot load sqlite-vec (%s)", exc)
            return False
    try:
        db.execute("SELECT vec_version()").fetchone()
    except sqlite3.Error:
        return False
    return True


def bits_table(dim: int) -> str:
    """The name of the vec0 table of sign bits for vectors of ``dim`` dimensions."""
    return f"entry_bits_{dim}"


def create_bits(db: sqlite3.Connection, dim: int) -> None:
    """Create the vec0 table of sign bits for ``dim``-dimensional vectors."""
    db.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {bits_table(dim)} USING vec0(embedding bit[{dim}])"
    )


def sign_bits(vector: Vectors) -> bytes:
    """The sign bit of each dimension, packed (sqlite-vec's ``bit`` layout)."""
    packed: bytes = np.packbits(vector.reshape(-1) > 0, bitorder="little").tobytes()
    return packed


def to_blob(vector: Vectors) -> bytes:
    """A float32 vector as stored."""
    return np.asarray(vector, dtype=np.float32).reshape(-1).tobytes()


def from_blobs(blobs: list[bytes], dim: int) -> Vectors:
    """Stored vectors as one (n, dim) array."""
    if not blobs:
        return np.zeros((0, dim), np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)
