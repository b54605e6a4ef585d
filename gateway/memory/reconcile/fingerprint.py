"""Range fingerprints: SHA-256 of (sum of ids mod 2**256, count), truncated to 16 bytes."""

from __future__ import annotations

import hashlib

from gateway.memory.wire import varint

FINGERPRINT_BYTES = 16
MOD = 1 << 256


def id_int(item_id: bytes) -> int:
    """An id read as a little-endian 256-bit integer."""
    return int.from_bytes(item_id, "little")


def fingerprint_of_sum(total: int, count: int) -> bytes:
    """Fingerprint from the (unreduced) sum of id integers and the item count."""
    digest = hashlib.sha256((total % MOD).to_bytes(32, "little") + varint(count)).digest()
    return digest[:FINGERPRINT_BYTES]


def fingerprint(ids: list[bytes]) -> bytes:
    """Fingerprint of a collection of 32-byte ids (order does not matter)."""
    return fingerprint_of_sum(sum(id_int(i) for i in ids), len(ids))
