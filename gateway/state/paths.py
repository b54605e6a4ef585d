"""Where a node keeps its state, and the rules for it: dirs 0700, files 0600.

Also :func:`write_private`, the one atomic writer of private files (temp file
created with O_EXCL and mode 0600, fsync, rename, fsync of the folder).
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import KeyFileError, StateError

DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True)
class StatePaths:
    """The files and folders of one node's state directory."""

    root: Path

    @property
    def identity_key(self) -> Path:
        return self.root / "identity.key"

    @property
    def static_key(self) -> Path:
        return self.root / "static.key"

    @property
    def onion_key(self) -> Path:
        return self.root / "onion.key"

    @property
    def tor_data_dir(self) -> Path:
        return self.root / "tor"

    @property
    def hs_dir(self) -> Path:
        return self.root / "hs"

    @property
    def db(self) -> Path:
        return self.root / "node.db"

    @property
    def memory_db(self) -> Path:
        return self.root / "memory.db"

    @property
    def restored_marker(self) -> Path:
        """Present after ``gateway restore`` until memory has synced with a contact."""
        return self.root / "restored"

    @property
    def api_token(self) -> Path:
        return self.root / "api.token"

    def key_files(self) -> tuple[Path, ...]:
        """The files that ``gateway init`` creates and the node needs."""
        return (self.identity_key, self.static_key, self.onion_key, self.api_token)

    def create(self) -> None:
        """Make the state directory (mode 0700); an existing one must already be private."""
        try:
            self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create state directory {self.root}: {exc.strerror}") from exc
        check_mode(self.root)

    def check(self, *, require_keys: bool = True) -> None:
        """Refuse a missing root, missing key files (if required) and too-open modes."""
        if not self.root.is_dir():
            raise StateError(f"state directory {self.root} does not exist (run gateway init)")
        check_mode(self.root)
        for path in self.key_files():
            if path.exists():
                check_mode(path)
            elif require_keys:
                raise KeyFileError(f"key file {path} is missing (run gateway init)")
        for path in (self.tor_data_dir, self.hs_dir, self.db):
            if path.exists():
                check_mode(path)


def check_mode(path: Path) -> None:
    """Refuse ``path`` if group or others have any access (dirs 0700, files 0600 at most)."""
    try:
        st = path.lstat()
    except OSError as exc:
        raise StateError(f"cannot stat {path}: {exc.strerror}") from exc
    mode = stat.S_IMODE(st.st_mode)
    is_dir = stat.S_ISDIR(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        raise KeyFileError(f"{path} is a symbolic link; state files must be regular files")
    if mode & 0o077:
        want = "0700" if is_dir else "0600"
        error = StateError if is_dir else KeyFileError
        raise error(f"{path} has mode {mode:04o}, too open (want {want}; chmod {want} {path})")


def write_private(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600."""
    if not overwrite and path.exists():
        raise StateError(f"{path} already exists")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if path appeared meanwhile
            os.unlink(tmp)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StateError(f"cannot write {path}: {exc.strerror}") from exc


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (new, renamed or removed files) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_private(path: Path) -> bytes:
    """Read a private state file after checking its mode."""
    if not path.exists():
        raise KeyFileError(f"key file {path} is missing")
    check_mode(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from exc
