"""Memory: signed entries, the SQLite store, the sans-I/O sync core and the Merkle log."""

from gateway.memory.entry import Entry, Kind, decode_entry, load_entry, sign_entry
from gateway.memory.spaces import DEFAULT_SPACE, Space
from gateway.memory.store import BatchResult, InsertResult, MemoryStore
from gateway.memory.sync import SyncSession
from gateway.memory.verify import VerifyReport, verify_store

__all__ = [
    "DEFAULT_SPACE",
    "BatchResult",
    "Entry",
    "InsertResult",
    "Kind",
    "MemoryStore",
    "Space",
    "SyncSession",
    "VerifyReport",
    "decode_entry",
    "load_entry",
    "sign_entry",
    "verify_store",
]
