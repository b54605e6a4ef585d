"""Records on a link's byte stream, and the handshake carried in them (sans-I/O).

Everything a link sends is a record: ``u32 length (big-endian) || body``, the
same layout as the session's records (:mod:`gateway.session.session`), so one
reader splits the whole stream. Handshake messages travel in records of the
sizes the link's padding mode allows, with random padding::

    handshake record body = u8 flags (0x01: more records follow) || u16 n || chunk (n) || padding

A handshake message longer than one record holds (FIXED padding) is split into
several records; :class:`HandshakeAssembler` joins them.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from gateway.config.schema import PaddingMode
from gateway.errors import FrameError
from gateway.session.padding import (
    DEFAULT_FIXED_SIZE,
    is_allowed_record_size,
    max_record_size,
    record_size_for,
)

PREFIX = struct.Struct("!I")
CHUNK_HEADER = struct.Struct("!BH")
FLAG_MORE = 0x01
#: bytes a handshake record adds around its chunk
HANDSHAKE_OVERHEAD = PREFIX.size + CHUNK_HEADER.size
#: the largest handshake message accepted (Noise's limit)
MAX_HANDSHAKE_MESSAGE = 65535


class RecordReader:
    """Splits a byte stream into records of at most ``max_size`` bytes (prefix included)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The complete records (with their prefix) that ``data`` finishes."""
        self._buffer += data
        records: list[bytes] = []
        while len(self._buffer) >= PREFIX.size:
            (length,) = PREFIX.unpack_from(self._buffer)
            size = PREFIX.size + length
            if size > self.max_size:
                raise FrameError(f"record of {size} bytes exceeds the limit of {self.max_size}")
            if len(self._buffer) < size:
                break
            records.append(bytes(self._buffer[:size]))
            del self._buffer[:size]
        return records

    @property
    def buffered(self) -> int:
        return len(self._buffer)


def handshake_records(
    message: bytes,
    mode: PaddingMode,
    *,
    fixed_size: int = DEFAULT_FIXED_SIZE,
    rng: Callable[[int], bytes] = os.urandom,
) -> list[bytes]:
    """Records carrying one handshake message, each of a size ``mode`` allows."""
    if len(message) > MAX_HANDSHAKE_MESSAGE:
        raise FrameError(f"handshake message of {len(message)} bytes is too long")
    largest = max_record_size(mode, fixed_size=fixed_size)
    capacity = len(message) if largest is None else largest - HANDSHAKE_OVERHEAD
    records = []
    offset = 0
    while True:
        chunk = message[offset : offset + capacity]
        offset += len(chunk)
        more = offset < len(message)
        size = record_size_for(mode, HANDSHAKE_OVERHEAD + len(chunk), fixed_size=fixed_size)
        body = CHUNK_HEADER.pack(FLAG_MORE if more else 0, len(chunk)) + chunk
        body += rng(size - PREFIX.size - len(body))
        records.append(PREFIX.pack(len(body)) + body)
        if not more:
            return records


class HandshakeAssembler:
    """Joins the records of one handshake message; checks each record's size.

    Each side pads its handshake records in its own padding mode (the session's format is
    agreed only by the handshake), so a record of any size some mode allows is accepted:
    every ``buckets`` and ``fixed`` size is also a ``padme_cells`` size.
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, record: bytes) -> bytes | None:
        """The whole message once its last record arrived, else None."""
        if not is_allowed_record_size(PaddingMode.PADME_CELLS, len(record)):
            raise FrameError(
                f"handshake record of {len(record)} bytes: not a size any padding mode allows"
            )
        body = record[PREFIX.size :]
        if len(body) < CHUNK_HEADER.size:
            raise FrameError("handshake record too short")
        flags, length = CHUNK_HEADER.unpack_from(body)
        if flags & ~FLAG_MORE or length > len(body) - CHUNK_HEADER.size:
            raise FrameError("malformed handshake record header")
        self._size += length
        if self._size > MAX_HANDSHAKE_MESSAGE:
            raise FrameError("handshake message too long")
        self._parts.append(body[CHUNK_HEADER.size : CHUNK_HEADER.size + length])
        if flags & FLAG_MORE:
            return None
        message = b"".join(self._parts)
        self._parts, self._size = [], 0
        return message
