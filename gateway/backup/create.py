"""``gateway backup``: one encrypted archive of a node's keys, contacts, memory and config."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway import __version__
from gateway.backup.archive import seal
from gateway.backup.container import CONFIG, MANIFEST, encode_files
from gateway.backup.kdf import MODERATE, KdfParams
from gateway.backup.manifest import Manifest
from gateway.backup.snapshot import read_state_files
from gateway.config.loader import load_config
from gateway.errors import BackupError
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths, write_private


@dataclass(frozen=True)
class BackupResult:
    """What was written: the archive, its size, the node's address and the files inside."""

    path: Path
    size: int
    onion_address: str
    files: tuple[str, ...]
    #: link sessions left out of the archive (they are never backed up)
    sessions_left_out: int


def create_backup(
    config_path: Path,
    out: Path,
    passphrase: bytes,
    *,
    kdf: KdfParams = MODERATE,
    force: bool = False,
    clock: Callable[[], float] = time.time,
) -> BackupResult:
    """Write the archive of the node configured at ``config_path`` to ``out`` (mode 0600).

    The node may be running: databases are copied with SQLite's backup API.
    An existing ``out`` is refused unless ``force``.
    """
    out = out.expanduser().absolute()
    if out.exists() and not force:
        raise BackupError(f"{out} already exists (use --force to replace it)")
    if not passphrase:
        raise BackupError("an empty passphrase is not allowed")
    cfg = load_config(config_path)
    paths = StatePaths(cfg.node.state_dir)
    paths.check()
    onion = OnionKey.load(paths.onion_key).address
    try:
        with tempfile.TemporaryDirectory(prefix=".backup-", dir=paths.root) as work:
            state_files, dropped = read_state_files(paths, Path(work))
    except OSError as exc:
        raise BackupError(f"cannot use a work folder in {paths.root}: {exc.strerror}") from exc
    manifest = Manifest(
        node_name=cfg.node.name,
        onion_address=onion,
        state_dir=str(paths.root),
        config_path=str(cfg.source),
        created=clock(),
        gateway_version=__version__,
    )
    files = {MANIFEST: manifest.encode(), CONFIG: _read_config(cfg.source), **state_files}
    data = seal(encode_files(files), passphrase, kdf)
    write_private(out, data, overwrite=force)
    return BackupResult(out, len(data), onion, tuple(files), dropped.sessions)


def _read_config(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BackupError(f"cannot read config {path}: {exc.strerror}") from exc
