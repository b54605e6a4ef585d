"""``gateway restore``: check an archive completely in a private temporary folder, then move it in.

Order: read and decrypt (WrongPassphraseError / CorruptArchiveError), parse the
file list and manifest, settle where the config and state go and refuse to
replace existing keys or config unless ``force``, write every file into a
staging folder beside the target (0700, files 0600), check the keys and
databases there, drop link sessions and renew sender epochs, and only then
rename the staging folder into place and write the config. Any failure before
the rename leaves the target untouched.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from gateway.backup.archive import open_archive
from gateway.backup.configtext import with_state_dir
from gateway.backup.container import CONFIG, MANIFEST, MEMORY_DB, NODE_DB, decode_files
from gateway.backup.manifest import Manifest, decode_manifest
from gateway.backup.snapshot import neutralise
from gateway.config.loader import load_config_text
from gateway.errors import BackupError, CorruptArchiveError, KeyFileError, StateError
from gateway.node.runtime_file import read_runtime
from gateway.state.keys import IdentityKeys, load_api_token
from gateway.state.onion_key import OnionKey
from gateway.state.paths import DIR_MODE, StatePaths, fsync_dir, write_private


@dataclass(frozen=True)
class Archive:
    """A decrypted, parsed archive."""

    manifest: Manifest
    files: dict[str, bytes]


@dataclass(frozen=True)
class RestoreResult:
    config_path: Path
    state_dir: Path
    onion_address: str
    manifest: Manifest
    #: link sessions dropped from the restored node.db (0 for archives of this version)
    sessions_dropped: int
    #: where an existing state directory was moved (``--force``), if one was
    replaced: Path | None


def read_archive(path: Path, passphrase: bytes) -> Archive:
    """Decrypt and parse the archive at ``path``."""
    try:
        data = path.expanduser().read_bytes()
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from exc
    files = decode_files(open_archive(data, passphrase))
    return Archive(decode_manifest(files[MANIFEST]), files)


def restore_backup(
    path: Path,
    passphrase: bytes,
    *,
    config_path: Path,
    state_dir: Path | None = None,
    force: bool = False,
) -> RestoreResult:
    """Restore the archive at ``path``: the config to ``config_path``, the state to ``state_dir``.

    ``state_dir`` defaults to the one the archived config names (read as if it
    were at ``config_path``).
    """
    archive = read_archive(path, passphrase)
    config_path = config_path.expanduser().absolute()
    target, text = _settle_config(archive, config_path, state_dir)
    _refuse_existing(config_path, target, force=force)
    staging = _stage(archive, target)
    dropped = _check_staged(archive, staging)
    # until memory syncs with a contact, our own chain head may be older than what we
    # wrote after the backup: writing now would fork it (see gateway/node/memops.py)
    write_private(StatePaths(staging).restored_marker, archive.manifest.onion_address.encode())
    replaced = _move_into_place(staging, target)
    try:
        _write_config(config_path, text, force=force)
    except StateError:
        _move_back(target, staging, replaced)
        raise
    return RestoreResult(
        config_path, target, archive.manifest.onion_address, archive.manifest, dropped, replaced
    )


def _settle_config(archive: Archive, config_path: Path, state_dir: Path | None) -> tuple[Path, str]:
    """The state directory to restore into, and the config text that names it."""
    try:
        text = archive.files[CONFIG].decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptArchiveError("the backup's config is not UTF-8") from None
    if state_dir is None:
        target = load_config_text(text, config_path).node.state_dir
    else:
        target = state_dir.expanduser().absolute().resolve()
    text = with_state_dir(text, config_path, target)
    names = load_config_text(text, config_path).node.state_dir
    if names != target:
        raise BackupError(f"the restored config would name {names}, not {target}")
    return target, text


def _refuse_existing(config_path: Path, target: Path, *, force: bool) -> None:
    paths = StatePaths(target)
    try:
        info = read_runtime(paths)
    except StateError:
        pass  # no node running there
    else:
        raise BackupError(f"a node (pid {info.pid}) is running on {target}; stop it first")
    if force:
        return
    if config_path.exists():
        raise BackupError(f"{config_path} already exists (use --force to replace it)")
    held = [p.name for p in (*paths.key_files(), paths.db, paths.memory_db) if p.exists()]
    if held:
        raise BackupError(
            f"{target} already holds a node's state ({', '.join(held)});"
            " use --force to move it aside and restore"
        )


def _stage(archive: Archive, target: Path) -> Path:
    """Every file of the archive in a new private folder beside ``target``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.restore-{secrets.token_hex(6)}"
        staging.mkdir(mode=DIR_MODE)
    except OSError as exc:
        raise BackupError(f"cannot make a staging folder beside {target}: {exc.strerror}") from exc
    try:
        for name, data in archive.files.items():
            if name in (MANIFEST, CONFIG):
                continue
            dest = staging / name
            _private_dirs(staging, dest.parent)
            write_private(dest, data)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _private_dirs(root: Path, folder: Path) -> None:
    for part in reversed((folder, *folder.parents)):
        if part == root or root not in part.parents:
            continue
        try:
            part.mkdir(mode=DIR_MODE, exist_ok=True)
        except OSError as exc:
            raise BackupError(f"cannot create {part}: {exc.strerror}") from exc


def _check_staged(archive: Archive, staging: Path) -> int:
    """Check keys and databases in ``staging``, drop link sessions; how many were dropped."""
    try:
        paths = StatePaths(staging)
        paths.check()
        IdentityKeys.load(paths)
        load_api_token(paths)
        address = OnionKey.load(paths.onion_key).address
        if address != archive.manifest.onion_address:
            raise CorruptArchiveError(
                f"the onion key gives {address}, the manifest says {archive.manifest.onion_address}"
            )
        _check_database(staging / MEMORY_DB)
        if not (staging / NODE_DB).exists():
            return 0
        _check_database(staging / NODE_DB)
        return neutralise(staging / NODE_DB, renew_epochs=True).sessions
    except KeyFileError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise CorruptArchiveError(f"the backup's keys are unusable: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _check_database(path: Path) -> None:
    if not path.exists():
        return
    try:
        conn = sqlite3.connect(path)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise CorruptArchiveError(f"the backup's {path.name}: {exc}") from exc
    if not result or result[0] != "ok":
        raise CorruptArchiveError(f"the backup's {path.name} fails its check: {result}")


def _move_into_place(staging: Path, target: Path) -> Path | None:
    """Rename ``staging`` to ``target``; an existing non-empty target is moved aside first."""
    replaced: Path | None = None
    try:
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        elif target.exists() or target.is_symlink():
            replaced = target.with_name(f"{target.name}.replaced-{secrets.token_hex(4)}")
            target.rename(replaced)
        staging.rename(target)
        fsync_dir(target.parent)
    except OSError as exc:
        if replaced is not None and not target.exists():
            replaced.rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupError(f"cannot move the restored state to {target}: {exc.strerror}") from exc
    return replaced


def _write_config(path: Path, text: str, *, force: bool) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create {path.parent}: {exc.strerror}") from exc
    write_private(path, text.encode("utf-8"), overwrite=force)


def _move_back(target: Path, staging: Path, replaced: Path | None) -> None:
    """Undo :func:`_move_into_place` after a later failure."""
    target.rename(staging)
    shutil.rmtree(staging, ignore_errors=True)
    if replaced is not None:
        replaced.rename(target)
