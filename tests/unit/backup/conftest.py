"""A node made by ``gateway init`` with a contact, link state, an outbox message and memory."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

import gateway.link.dedupe  # registers its migration
import gateway.link.outbox  # noqa: F401 - registers its migration
from gateway.cli.init_cmd import init_node
from gateway.config.loader import load_config
from gateway.config.schema import Level
from gateway.contacts.book import ContactBook
from gateway.link.outbox import Outbox, journal_records, save_session_state
from gateway.memory.author import append_entry
from gateway.memory.store import MemoryStore
from gateway.state.keys import IdentityKeys
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths
from gateway.storage.db import apply_migrations, open_db
from tests.unit.contacts.helpers import NOW, sample_invite

PASSPHRASE = b"correct horse battery staple"
SESSION_BLOB = b"ratchet-state-" + bytes(range(64))
RECORD = b"sealed-record-" + bytes(range(32))


@dataclass(frozen=True)
class SourceNode:
    config: Path
    paths: StatePaths
    onion: str
    contact: bytes
    msg_id: bytes
    entry_id: bytes
    epoch: bytes


@pytest.fixture
def source(tmp_path: Path) -> SourceNode:
    config = tmp_path / "old" / "node.yaml"
    init_node(
        config_path=config, level=Level.STANDARD, name="alice",
        state_dir=tmp_path / "old" / "state", testnet=None, force=False,
    )  # fmt: skip
    paths = StatePaths(load_config(config).node.state_dir)
    keys = IdentityKeys.load(paths)
    book = ContactBook.open(paths.db, keys.signing_public)
    _, invite = sample_invite(expires=NOW + 10**9)
    contact = book.add_contact(invite.text, NOW, nickname="bob").identity
    book.close()
    conn = open_db(paths.db)
    apply_migrations(conn)
    msg_id = Outbox(conn).enqueue(contact, "msg", b"unacknowledged", now=NOW)
    save_session_state(conn, contact, SESSION_BLOB)
    journal_records(conn, contact, [RECORD])
    epoch = bytes(conn.execute("SELECT epoch FROM link_outbox_senders").fetchone()[0])
    conn.close()
    with MemoryStore(paths.memory_db) as store:
        entry = append_entry(store, keys.signing, timestamp_ms=NOW * 1000, body="remember me")
    return SourceNode(
        config, paths, OnionKey.load(paths.onion_key).address, contact, msg_id, entry.id, epoch
    )


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()
