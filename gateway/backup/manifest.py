"""What an archive says about itself: ``manifest.json`` inside the encrypted part."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from gateway.errors import CorruptArchiveError

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    """The node an archive came from, and when."""

    node_name: str
    onion_address: str
    #: the state directory the node used when the archive was made
    state_dir: str
    #: the config file's path when the archive was made
    config_path: str
    created: float
    gateway_version: str
    version: int = MANIFEST_VERSION

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")


_FIELDS = {
    "node_name": str,
    "onion_address": str,
    "state_dir": str,
    "config_path": str,
    "created": float,
    "gateway_version": str,
    "version": int,
}


def decode_manifest(data: bytes) -> Manifest:
    """Parse ``manifest.json``; CorruptArchiveError if it is not the expected object."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptArchiveError(f"the backup's manifest is not JSON: {exc}") from None
    if not isinstance(raw, dict) or set(raw) != set(_FIELDS):
        raise CorruptArchiveError("the backup's manifest does not have the expected fields")
    for name, kind in _FIELDS.items():
        value = raw[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            raw[name] = value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise CorruptArchiveError(f"the backup's manifest: {name} is not a {kind.__name__}")
    if raw["version"] != MANIFEST_VERSION:
        raise CorruptArchiveError(f"unsupported backup manifest version {raw['version']}")
    return Manifest(**raw)
