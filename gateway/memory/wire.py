"""Byte-level helpers shared by the entry and sync message encodings."""

from __future__ import annotations

import struct

from gateway.errors import FrameError

MAX_VARINT_BYTES = 10


def varint(value: int) -> bytes:
    """Unsigned LEB128 encoding of ``value`` (0 <= value < 2**64)."""
    if value < 0 or value >= 1 << 64:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def str8(text: str) -> bytes:
    """UTF-8 text prefixed by a one-byte length."""
    raw = text.encode("utf-8")
    if len(raw) > 0xFF:
        raise ValueError("string longer than 255 bytes")
    return bytes([len(raw)]) + raw


class Reader:
    """Reads fields from ``data`` front to back; every shortfall is a FrameError."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not read yet."""
        return len(self._data) - self._pos

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes."""
        if n < 0 or self._pos + n > len(self._data):
            raise FrameError(f"truncated: wanted {n} bytes at offset {self._pos}")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def u8(self) -> int:
        """One unsigned byte."""
        return self.take(1)[0]

    def u16(self) -> int:
        """Big-endian unsigned 16-bit integer."""
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        """Big-endian unsigned 32-bit integer."""
        return int(struct.unpack(">I", self.take(4))[0])

    def u64(self) -> int:
        """Big-endian unsigned 64-bit integer."""
        return int(struct.unpack(">Q", self.take(8))[0])

    def varint(self) -> int:
        """Unsigned LEB128 integer (at most 10 bytes, canonical)."""
        result = 0
        for i in range(MAX_VARINT_BYTES):
            byte = self.u8()
            result |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise FrameError("non-canonical varint")
                if result >= 1 << 64:
                    raise FrameError("varint out of range")
                return result
        raise FrameError("varint too long")

    def text(self, n: int) -> str:
        """``n`` bytes of UTF-8."""
        raw = self.take(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FrameError(f"invalid UTF-8: {exc.reason}") from exc

    def str8(self) -> str:
        """UTF-8 text prefixed by a one-byte length."""
        return self.text(self.u8())

    def end(self) -> None:
        """Require that every byte was read."""
        if self.remaining:
            raise FrameError(f"{self.remaining} trailing bytes")
