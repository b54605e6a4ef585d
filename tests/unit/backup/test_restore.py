"""Backup of a node and restore into a fresh place: same keys, contacts, memory; no sessions."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from gateway.backup.container import CONFIG, NODE_DB
from gateway.backup.create import create_backup
from gateway.backup.kdf import MINIMUM
from gateway.backup.restore import read_archive, restore_backup
from gateway.config.loader import load_config
from gateway.contacts.book import ContactBook
from gateway.errors import BackupError, CorruptArchiveError, KeyFileError, WrongPassphraseError
from gateway.memory.store import MemoryStore
from gateway.state.keys import IdentityKeys, load_api_token
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths
from tests.unit.backup.conftest import PASSPHRASE, RECORD, SESSION_BLOB, SourceNode, rows


def _backup(source: SourceNode, out: Path) -> Path:
    create_backup(source.config, out, PASSPHRASE, kdf=MINIMUM)
    return out


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


def test_archive_holds_no_session_and_no_ratchet_bytes(source: SourceNode, tmp_path: Path) -> None:
    out = _backup(source, tmp_path / "a.gwb")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    archive = read_archive(out, PASSPHRASE)
    assert archive.manifest.onion_address == source.onion
    assert archive.files[CONFIG] == source.config.read_bytes()
    node_db = archive.files[NODE_DB]
    assert SESSION_BLOB not in node_db and RECORD not in node_db
    assert b"unacknowledged" in node_db  # the outbox message is kept
    # the live node's sessions are untouched by the backup
    assert rows(source.paths.db, "SELECT count(*) FROM link_sessions") == [(1,)]
    assert not [p for p in source.paths.root.iterdir() if p.name.startswith(".backup-")]


def test_restore_into_a_fresh_place(source: SourceNode, tmp_path: Path) -> None:
    out = _backup(source, tmp_path / "a.gwb")
    config = tmp_path / "new" / "conf" / "node.yaml"
    state = tmp_path / "new" / "state"
    result = restore_backup(out, PASSPHRASE, config_path=config, state_dir=state)
    assert result.state_dir == state and result.onion_address == source.onion
    assert load_config(config).node.state_dir == state
    paths = StatePaths(state)
    paths.check()
    assert OnionKey.load(paths.onion_key).address == source.onion
    old_keys = IdentityKeys.load(source.paths)
    keys = IdentityKeys.load(paths)
    assert keys.signing_public == old_keys.signing_public
    assert keys.static_public == old_keys.static_public
    assert load_api_token(paths) == load_api_token(source.paths)
    book = ContactBook.open(paths.db, keys.signing_public)
    assert [c.identity for c in book.list()] == [source.contact]
    book.close()
    with MemoryStore(paths.memory_db) as store:
        entry = store.get(source.entry_id)
        assert entry is not None and entry.body == "remember me"
    assert rows(paths.db, "SELECT count(*) FROM link_sessions") == [(0,)]
    assert rows(paths.db, "SELECT count(*) FROM link_wire") == [(0,)]
    assert rows(paths.db, "SELECT msg_id, body FROM link_outbox") == [
        (source.msg_id, b"unacknowledged")
    ]
    [(epoch,)] = rows(paths.db, "SELECT epoch FROM link_outbox_senders")
    assert isinstance(epoch, bytes) and len(epoch) == 8 and epoch != source.epoch
    assert not list(state.parent.glob(".state.restore-*"))
    assert paths.restored_marker.exists()  # memory writes wait for a first sync


def test_modes_of_the_restored_state(source: SourceNode, tmp_path: Path) -> None:
    (source.paths.root / "client_auth").mkdir(mode=0o700)
    (source.paths.root / "client_auth" / "peer.auth_private").write_text("x")
    os.chmod(source.paths.root / "client_auth" / "peer.auth_private", 0o600)
    out = _backup(source, tmp_path / "a.gwb")
    state = tmp_path / "r" / "state"
    restore_backup(out, PASSPHRASE, config_path=tmp_path / "r" / "n.yaml", state_dir=state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "client_auth").stat().st_mode) == 0o700
    assert (state / "client_auth" / "peer.auth_private").read_text() == "x"
    for path in state.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tmp_path / "r" / "n.yaml").stat().st_mode) == 0o600


def test_default_state_dir_is_the_one_the_archived_config_names(
    source: SourceNode, tmp_path: Path
) -> None:
    out = _backup(source, tmp_path / "a.gwb")
    config = tmp_path / "other" / "node.yaml"
    result = restore_backup(out, PASSPHRASE, config_path=config)
    # init wrote a relative state_dir ("state"): it now resolves beside the new config
    assert result.state_dir == tmp_path / "other" / "state"
    assert OnionKey.load(StatePaths(result.state_dir).onion_key).address == source.onion


def test_existing_state_and_config_are_refused_without_force(
    source: SourceNode, tmp_path: Path
) -> None:
    out = _backup(source, tmp_path / "a.gwb")
    before = _tree(source.paths.root)
    with pytest.raises(BackupError, match="already exists"):
        restore_backup(out, PASSPHRASE, config_path=source.config)
    config = tmp_path / "fresh.yaml"
    with pytest.raises(BackupError, match="already holds"):
        restore_backup(out, PASSPHRASE, config_path=config, state_dir=source.paths.root)
    assert _tree(source.paths.root) == before and not config.exists()


def test_force_moves_the_old_state_aside(source: SourceNode, tmp_path: Path) -> None:
    out = _backup(source, tmp_path / "a.gwb")
    config_text = source.config.read_text()
    result = restore_backup(out, PASSPHRASE, config_path=source.config, force=True)
    assert result.state_dir == source.paths.root and result.replaced is not None
    assert rows(result.replaced / "node.db", "SELECT count(*) FROM link_sessions") == [(1,)]
    assert rows(source.paths.db, "SELECT count(*) FROM link_sessions") == [(0,)]
    assert load_config(source.config).node.state_dir == source.paths.root
    assert "security:" in source.config.read_text() and config_text.count("\n") == (
        source.config.read_text().count("\n")
    )


def test_a_running_node_is_never_replaced(source: SourceNode, tmp_path: Path) -> None:
    out = _backup(source, tmp_path / "a.gwb")
    (source.paths.root / "node.json").write_text(
        f'{{"pid": {os.getpid()}, "onion": "x", "socks_port": null}}'
    )
    os.chmod(source.paths.root / "node.json", 0o600)
    with pytest.raises(BackupError, match="running"):
        restore_backup(out, PASSPHRASE, config_path=source.config, force=True)


@pytest.mark.parametrize("damage", ["passphrase", "flip", "truncate", "magic"])
def test_nothing_is_written_on_failure(source: SourceNode, tmp_path: Path, damage: str) -> None:
    out = _backup(source, tmp_path / "a.gwb")
    data = out.read_bytes()
    passphrase = PASSPHRASE
    if damage == "passphrase":
        passphrase = b"wrong"
    elif damage == "flip":
        out.write_bytes(data[:100] + bytes([data[100] ^ 4]) + data[101:])
    elif damage == "truncate":
        out.write_bytes(data[: len(data) // 2])
    else:
        out.write_bytes(b"PK\x03\x04" + data[4:])
    target = tmp_path / "target"
    expected = WrongPassphraseError if damage == "passphrase" else CorruptArchiveError
    with pytest.raises(expected):
        restore_backup(out, passphrase, config_path=target / "n.yaml", state_dir=target / "s")
    assert not target.exists()
    before = _tree(source.paths.root)
    with pytest.raises(expected):
        restore_backup(out, passphrase, config_path=source.config, force=True)
    assert _tree(source.paths.root) == before


def test_bad_content_inside_a_valid_archive_is_corrupt(source: SourceNode, tmp_path: Path) -> None:
    """An archive sealed with the right passphrase but a damaged database or key."""
    from gateway.backup.archive import seal
    from gateway.backup.container import decode_files, encode_files

    out = _backup(source, tmp_path / "a.gwb")
    archive = read_archive(out, PASSPHRASE)
    for name, junk in ((NODE_DB, b"not a database" * 100), ("onion.key", b"garbage\n")):
        files = decode_files(encode_files({**archive.files, name: junk}))
        bad = tmp_path / f"bad-{name}.gwb"
        bad.write_bytes(seal(encode_files(files), PASSPHRASE, MINIMUM))
        target = tmp_path / f"t-{name}"
        with pytest.raises(CorruptArchiveError):
            restore_backup(bad, PASSPHRASE, config_path=target / "n.yaml", state_dir=target / "s")
        assert not (target / "s").exists() and not (target / "n.yaml").exists()
        assert not list(target.glob(".s.restore-*"))


def test_backup_refuses_to_replace_a_file_and_a_missing_state(
    source: SourceNode, tmp_path: Path
) -> None:
    out = _backup(source, tmp_path / "a.gwb")
    with pytest.raises(BackupError, match="already exists"):
        create_backup(source.config, out, PASSPHRASE, kdf=MINIMUM)
    first = out.read_bytes()
    create_backup(source.config, out, PASSPHRASE, kdf=MINIMUM, force=True)
    assert out.read_bytes() != first
    source.paths.onion_key.unlink()
    with pytest.raises(KeyFileError, match=r"onion\.key"):
        create_backup(source.config, tmp_path / "b.gwb", PASSPHRASE, kdf=MINIMUM)
    assert not (tmp_path / "b.gwb").exists()


def test_backup_of_a_database_in_use(source: SourceNode, tmp_path: Path) -> None:
    """A writer holds an open transaction: the copy is the last committed state."""
    conn = sqlite3.connect(source.paths.db, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("UPDATE link_outbox SET body = x'00'")
    try:
        out = _backup(source, tmp_path / "a.gwb")
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    assert b"unacknowledged" in read_archive(out, PASSPHRASE).files[NODE_DB]
