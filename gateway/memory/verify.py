"""Offline audit of a memory store: signatures, chain links and the Merkle log."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gateway.errors import EntryError
from gateway.memory import merkle
from gateway.memory.entry import ZERO_HASH, verify_signature
from gateway.memory.store import MemoryStore
from gateway.memory.treeheads import OWN


@dataclass
class VerifyReport:
    """What verify_store found; ``ok`` when nothing is wrong."""

    entries: int = 0
    bad_signatures: list[bytes] = field(default_factory=list)
    broken_links: list[bytes] = field(default_factory=list)
    log_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem of any kind."""
        return not (self.bad_signatures or self.broken_links or self.log_problems)


def verify_store(store: MemoryStore, *, node_key: bytes | None = None) -> VerifyReport:
    """Re-check every entry's signature and chain link, and the log against its entries.

    With ``node_key``, the latest tree head we signed must be a prefix of the log.
    """
    report = VerifyReport()
    by_pos: dict[tuple[bytes, str, int], bytes] = {}
    leaves: list[bytes] = []
    entries = list(store.all_entries())
    for index, entry in entries:
        report.entries += 1
        try:
            verify_signature(entry)
        except EntryError:
            report.bad_signatures.append(entry.id)
        by_pos[(entry.author, entry.space, entry.seq)] = entry.id
        if index != len(leaves):
            report.log_problems.append(f"log index {index} out of order")
        leaves.append(merkle.leaf_hash(entry.id))
    for _, entry in entries:
        expected = (
            ZERO_HASH if entry.seq == 1 else by_pos.get((entry.author, entry.space, entry.seq - 1))
        )
        if entry.prev != expected:
            report.broken_links.append(entry.id)
    if leaves != store.log_leaves():
        report.log_problems.append("log leaves differ from the stored entries")
    if node_key is not None:
        _check_own_head(store, node_key, leaves, report)
    return report


def verify_file(path: Path, *, node_key: bytes | None = None) -> VerifyReport:
    """:func:`verify_store` over a read-only snapshot of the store in ``path``.

    It blocks for as long as the audit takes (seconds for a million entries), so a running
    node calls it in a worker thread: the event loop, and with it the links' pace, go on.
    """
    with MemoryStore.snapshot(path) as store:
        return verify_store(store, node_key=node_key)


def _check_own_head(
    store: MemoryStore, node_key: bytes, leaves: list[bytes], report: VerifyReport
) -> None:
    sth = store.tree_head(node_key, OWN)
    if sth is None:
        return
    if not sth.verify():
        report.log_problems.append("our latest tree head has a bad signature")
    elif sth.size > len(leaves) or merkle.subtree_root(leaves, 0, sth.size) != sth.root:
        report.log_problems.append("log does not extend our latest signed tree head")
