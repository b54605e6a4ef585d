"""Byte-level helpers for the versioned session-state blobs.

All integers are big-endian and unsigned. ``opt32`` is one presence byte
(``0x00`` absent, ``0x01`` present) followed, when present, by exactly 32 bytes.
Reading past the end, a bad presence byte, or trailing bytes raise
:class:`~gateway.errors.SessionStateError`.
"""

from __future__ import annotations

import struct

from gateway.errors import SessionStateError

_U8 = struct.Struct("!B")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


class Writer:
    """Appends fields to a growing blob."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, value: int) -> None:
        self._parts.append(_U8.pack(value))

    def u16(self, value: int) -> None:
        self._parts.append(_U16.pack(value))

    def u32(self, value: int) -> None:
        self._parts.append(_U32.pack(value))

    def raw(self, value: bytes, size: int) -> None:
        if len(value) != size:
            raise SessionStateError(f"field must be {size} bytes, got {len(value)}")
        self._parts.append(value)

    def opt32(self, value: bytes | None) -> None:
        if value is None:
            self._parts.append(b"\x00")
        else:
            self._parts.append(b"\x01")
            self.raw(value, 32)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Reads fields from a blob; every shortfall is a SessionStateError."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise SessionStateError(
                f"state blob truncated: needed {size} bytes at offset {self._pos}"
            )
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self) -> int:
        return int(_U8.unpack(self._take(1))[0])

    def u16(self) -> int:
        return int(_U16.unpack(self._take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self._take(4))[0])

    def raw(self, size: int) -> bytes:
        return self._take(size)

    def opt32(self) -> bytes | None:
        flag = self.u8()
        if flag == 0:
            return None
        if flag != 1:
            raise SessionStateError(f"bad presence byte {flag} at offset {self._pos - 1}")
        return self._take(32)

    def finish(self) -> None:
        """Check that the whole blob was consumed."""
        if self._pos != len(self._data):
            raise SessionStateError(f"state blob has {len(self._data) - self._pos} trailing bytes")
