"""The Noise hash functions (spec rev 34, section 4.3): SHA256 and BLAKE2b.

Each :class:`HashFunction` also provides ``HMAC-HASH`` and the two- and
three-output ``HKDF`` of section 4.3.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HashFunction:
    """A Noise hash function: its name in protocol names, HASHLEN and BLOCKLEN."""

    name: str
    hashlen: int
    blocklen: int
    _constructor: Callable[..., Any]

    def hash(self, data: bytes) -> bytes:
        """HASH(data): the digest of ``data``."""
        return bytes(self._constructor(data).digest())

    def hmac_hash(self, key: bytes, data: bytes) -> bytes:
        """HMAC-HASH(key, data) of RFC 2104 with this hash function."""
        return hmac.new(key, data, self._constructor).digest()

    def hkdf(self, chaining_key: bytes, ikm: bytes, num_outputs: int) -> tuple[bytes, ...]:
        """HKDF(chaining_key, input_key_material, num_outputs) of section 4.3 (2 or 3 outputs)."""
        if num_outputs not in (2, 3):
            raise ValueError("Noise HKDF yields 2 or 3 outputs")
        temp_key = self.hmac_hash(chaining_key, ikm)
        outputs: list[bytes] = []
        previous = b""
        for index in range(1, num_outputs + 1):
            previous = self.hmac_hash(temp_key, previous + bytes([index]))
            outputs.append(previous)
        return tuple(outputs)


SHA256 = HashFunction("SHA256", 32, 64, hashlib.sha256)
BLAKE2B = HashFunction("BLAKE2b", 64, 128, hashlib.blake2b)

HASHES: dict[str, HashFunction] = {h.name: h for h in (SHA256, BLAKE2B)}
