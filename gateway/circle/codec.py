"""Byte-level encoding of circle messages, decisions and snapshots.

All integers are unsigned big-endian of fixed width; byte strings and nested items are
length-prefixed. Every shortfall, overrun or leftover byte is a :class:`CircleError`
whose ``reason`` says which (``truncated``, ``trailing``, ``oversized``, ``malformed``).
"""

from __future__ import annotations

import struct

from gateway.errors import CircleError

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

MAX_U64 = (1 << 64) - 1


def u8(value: int) -> bytes:
    return bytes([value])


def u16(value: int) -> bytes:
    return _U16.pack(value)


def u32(value: int) -> bytes:
    return _U32.pack(value)


def u64(value: int) -> bytes:
    return _U64.pack(value)


def blob32(data: bytes) -> bytes:
    """``data`` prefixed by its u32 length."""
    return _U32.pack(len(data)) + data


def str8(text: str) -> bytes:
    """UTF-8 text prefixed by a one-byte length."""
    raw = text.encode("utf-8")
    if len(raw) > 0xFF:
        raise ValueError("string longer than 255 bytes")
    return bytes([len(raw)]) + raw


class Reader:
    """Reads fields of ``data`` front to back."""

    def __init__(self, data: bytes, what: str = "message") -> None:
        self._data = data
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, n: int, field: str = "field") -> bytes:
        if n < 0 or self._pos + n > len(self._data):
            raise CircleError(
                "truncated", f"{self._what}: {field} wants {n} bytes at offset {self._pos}"
            )
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def u8(self, field: str = "u8") -> int:
        return self.take(1, field)[0]

    def u16(self, field: str = "u16") -> int:
        return int(_U16.unpack(self.take(2, field))[0])

    def u32(self, field: str = "u32") -> int:
        return int(_U32.unpack(self.take(4, field))[0])

    def u64(self, field: str = "u64") -> int:
        return int(_U64.unpack(self.take(8, field))[0])

    def blob32(self, field: str, limit: int) -> bytes:
        """A u32-length-prefixed byte string of at most ``limit`` bytes."""
        n = self.u32(field + " length")
        if n > limit:
            raise CircleError("oversized", f"{self._what}: {field} of {n} bytes (limit {limit})")
        return self.take(n, field)

    def str8(self, field: str) -> str:
        raw = self.take(self.u8(field + " length"), field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CircleError("malformed", f"{self._what}: {field} is not UTF-8") from exc

    def count(self, field: str, width: int, limit: int) -> int:
        """An item count of ``width`` bytes (1, 2 or 4) that must not exceed ``limit``."""
        n = {1: self.u8, 2: self.u16, 4: self.u32}[width](field + " count")
        if n > limit:
            raise CircleError("oversized", f"{self._what}: {n} {field} (limit {limit})")
        return n

    def end(self) -> None:
        if self.remaining:
            raise CircleError("trailing", f"{self._what}: {self.remaining} bytes left over")
