"""The archive's plaintext: a list of named files (sans-I/O).

Layout (big-endian)::

    "GWFILES1" | u32 count | count x (u16 name length | name (UTF-8) | u64 size | data)

Names are relative paths from a fixed allow-list (see :func:`check_name`), so a
restore can never write outside the state directory; no name appears twice and
nothing follows the last file.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping

from gateway.errors import CorruptArchiveError

MAGIC = b"GWFILES1"
_COUNT = struct.Struct("!I")
_NAME_LEN = struct.Struct("!H")
_SIZE = struct.Struct("!Q")
MAX_FILES = 10_000

MANIFEST = "manifest.json"
CONFIG = "config.yaml"
NODE_DB = "node.db"
MEMORY_DB = "memory.db"
KEY_FILES = ("identity.key", "static.key", "onion.key", "api.token")
#: files every archive holds
REQUIRED = (MANIFEST, CONFIG, *KEY_FILES)
#: files an archive may hold besides the client-authorization files (the databases
#: are there once the node has made them)
FIXED_NAMES = frozenset((*REQUIRED, NODE_DB, MEMORY_DB))
AUTH_DIR = "hs/authorized_clients"
AUTH_PRIVATE_DIR = "client_auth"
_AUTH = re.compile(r"hs/authorized_clients/[A-Za-z0-9_-]{1,100}\.auth")
_AUTH_PRIVATE = re.compile(r"client_auth/[A-Za-z0-9_-]{1,100}\.auth_private")


def check_name(name: str) -> None:
    """Refuse a name that is not a file a backup may hold."""
    if name in FIXED_NAMES or _AUTH.fullmatch(name) or _AUTH_PRIVATE.fullmatch(name):
        return
    raise CorruptArchiveError(f"the backup names a file it may not hold: {name[:80]!r}")


def encode_files(files: Mapping[str, bytes]) -> bytes:
    """The container of ``files`` (name -> content), in the mapping's order."""
    parts = [MAGIC, _COUNT.pack(len(files))]
    for name, data in files.items():
        check_name(name)
        raw = name.encode("utf-8")
        parts += [_NAME_LEN.pack(len(raw)), raw, _SIZE.pack(len(data)), data]
    return b"".join(parts)


def decode_files(data: bytes) -> dict[str, bytes]:
    """The files of a container; CorruptArchiveError on any malformation."""
    if data[: len(MAGIC)] != MAGIC:
        raise CorruptArchiveError("the backup's content is not a gateway file list")
    pos = len(MAGIC)
    (count,) = _unpack(_COUNT, data, pos)
    pos += _COUNT.size
    if count > MAX_FILES:
        raise CorruptArchiveError(f"the backup lists {count} files (at most {MAX_FILES})")
    files: dict[str, bytes] = {}
    for _ in range(count):
        name, pos = _name(data, pos)
        (size,) = _unpack(_SIZE, data, pos)
        pos += _SIZE.size
        if pos + size > len(data):
            raise CorruptArchiveError(f"the backup's file {name!r} is truncated")
        if name in files:
            raise CorruptArchiveError(f"the backup holds {name!r} twice")
        files[name] = data[pos : pos + size]
        pos += size
    if pos != len(data):
        raise CorruptArchiveError(f"{len(data) - pos} stray bytes after the backup's last file")
    missing = [n for n in REQUIRED if n not in files]
    if missing:
        raise CorruptArchiveError(f"the backup lacks {', '.join(missing)}")
    return files


def _name(data: bytes, pos: int) -> tuple[str, int]:
    (length,) = _unpack(_NAME_LEN, data, pos)
    pos += _NAME_LEN.size
    raw = data[pos : pos + length]
    if len(raw) != length:
        raise CorruptArchiveError("the backup's file list is truncated")
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptArchiveError("a file name in the backup is not UTF-8") from None
    check_name(name)
    return name, pos + length


def _unpack(fmt: struct.Struct, data: bytes, pos: int) -> tuple[int, ...]:
    if pos + fmt.size > len(data):
        raise CorruptArchiveError("the backup's file list is truncated")
    return fmt.unpack_from(data, pos)
