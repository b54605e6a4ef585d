"""Frames: how application payloads become padded inner plaintexts, and back.

Each frame is the plaintext of one ratchet message (its *inner plaintext*)::

    type (1) | flags (1) | length (4, big-endian) | payload (length) | zero padding

``type`` is a :class:`FrameType`; ``flags`` bit 0 (``FLAG_MORE``) says that more
fragments of the same payload follow; the other flag bits must be zero. The
padding must be all zero bytes, so it is removed unambiguously; a frame with a
length beyond its end, non-zero padding, an unknown type or flag raises
:class:`~gateway.errors.FrameError`.

Sizes come from :mod:`gateway.session.padding`: the encoder pads each frame so
that its *record* (inner size + ``overhead``) has a size the mode allows.

Fragmentation (BUCKETS and FIXED): a payload longer than one record holds is cut
into consecutive fragments, all of the same type, every one but the last with
``FLAG_MORE``. There is no message id: the link is in-order TCP over Tor and a
sender emits the fragments of one payload back to back, so the receiver appends
fragments until one without ``FLAG_MORE`` arrives. Only DUMMY frames (cover
traffic) may be interleaved; they never carry ``FLAG_MORE`` and do not disturb a
reassembly. A reassembled payload larger than ``max_payload`` raises FrameError.
After any FrameError the decoder drops its partial payload; the link should be
closed, as the peer is broken or hostile.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from gateway.config.schema import PaddingMode
from gateway.errors import FrameError
from gateway.session.padding import (
    DEFAULT_FIXED_SIZE,
    is_allowed_record_size,
    max_record_size,
    record_size_for,
)

#: type + flags + length
FRAME_HEADER_SIZE = 6
#: flag: more fragments of this payload follow
FLAG_MORE = 0x01
#: default cap of one (reassembled) payload
DEFAULT_MAX_PAYLOAD = 1 << 20
#: the most a DUMMY frame may carry
MAX_DUMMY_PAYLOAD = 16

_PREFIX = struct.Struct("!BBI")


class FrameType(enum.IntEnum):
    """What a frame carries."""

    DATA = 0x01  # application payload
    CONTROL = 0x02  # session-level message of the link layer
    DUMMY = 0x03  # cover traffic: an optional short payload (the link's sequence number)


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded (and, if it was fragmented, reassembled) frame."""

    type: FrameType
    payload: bytes


def fragment_capacity(
    mode: PaddingMode, overhead: int, *, fixed_size: int = DEFAULT_FIXED_SIZE
) -> int | None:
    """Most payload bytes one frame carries (``None``: unbounded, no splitting)."""
    largest = max_record_size(mode, fixed_size=fixed_size)
    if largest is None:
        return None
    capacity = largest - overhead - FRAME_HEADER_SIZE
    if capacity < 1:
        raise FrameError(
            f"{mode.value} records of at most {largest} bytes leave no room for payload "
            f"with overhead {overhead}"
        )
    return capacity


def record_sizes(
    mode: PaddingMode, payload_len: int, overhead: int, *, fixed_size: int = DEFAULT_FIXED_SIZE
) -> list[int]:
    """The sizes of the records that carry one payload (one per fragment)."""
    capacity = fragment_capacity(mode, overhead, fixed_size=fixed_size)
    sizes: list[int] = []
    remaining = payload_len
    while True:
        chunk = remaining if capacity is None else min(remaining, capacity)
        minimal = FRAME_HEADER_SIZE + chunk + overhead
        sizes.append(record_size_for(mode, minimal, fixed_size=fixed_size))
        remaining -= chunk
        if remaining <= 0:
            return sizes


def padded_record_size(
    mode: PaddingMode, payload_len: int, overhead: int, *, fixed_size: int = DEFAULT_FIXED_SIZE
) -> int:
    """Bytes on the wire for one payload: its record size, summed over its fragments."""
    return sum(record_sizes(mode, payload_len, overhead, fixed_size=fixed_size))


class FrameEncoder:
    """Turns payloads into padded inner plaintexts (one per record)."""

    def __init__(
        self,
        mode: PaddingMode,
        overhead: int,
        *,
        fixed_size: int = DEFAULT_FIXED_SIZE,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        if overhead < 0 or max_payload < 0:
            raise FrameError("overhead and max_payload must not be negative")
        self.mode = mode
        self.overhead = overhead
        self.fixed_size = fixed_size
        self.max_payload = max_payload
        self._capacity = fragment_capacity(mode, overhead, fixed_size=fixed_size)

    def _frame(self, frame_type: FrameType, flags: int, chunk: bytes, record: int) -> bytes:
        inner = record - self.overhead
        pad = inner - FRAME_HEADER_SIZE - len(chunk)
        return _PREFIX.pack(frame_type, flags, len(chunk)) + chunk + bytes(pad)

    def _record_for(self, chunk_len: int) -> int:
        minimal = FRAME_HEADER_SIZE + chunk_len + self.overhead
        return record_size_for(self.mode, minimal, fixed_size=self.fixed_size)

    def encode(self, payload: bytes, frame_type: FrameType = FrameType.DATA) -> list[bytes]:
        """The inner plaintexts of ``payload``, in order (several when it is split)."""
        if frame_type is FrameType.DUMMY:
            raise FrameError("use dummy() for cover frames")
        if len(payload) > self.max_payload:
            raise FrameError(f"payload of {len(payload)} bytes exceeds {self.max_payload}")
        step = self._capacity if self._capacity is not None else max(1, len(payload))
        view = memoryview(payload)
        frames: list[bytes] = []
        start = 0
        while True:
            chunk = bytes(view[start : start + step])
            start += len(chunk)
            flags = FLAG_MORE if start < len(payload) else 0
            frames.append(self._frame(frame_type, flags, chunk, self._record_for(len(chunk))))
            if not flags:
                return frames

    def dummy(self, record_size: int | None = None, payload: bytes = b"") -> bytes:
        """A cover frame whose record is ``record_size`` (default: the smallest allowed).

        ``payload`` (at most :data:`MAX_DUMMY_PAYLOAD` bytes) rides inside, unseen
        without the keys: the link layer numbers its cover records with it.
        """
        if len(payload) > MAX_DUMMY_PAYLOAD:
            raise FrameError(f"dummy payload of {len(payload)} bytes is too long")
        smallest = self._record_for(len(payload))
        size = smallest if record_size is None else record_size
        if size < smallest or not is_allowed_record_size(
            self.mode, size, fixed_size=self.fixed_size
        ):
            raise FrameError(f"{size} is not an allowed {self.mode.value} record size")
        return self._frame(FrameType.DUMMY, 0, payload, size)


class FrameDecoder:
    """Turns inner plaintexts back into frames, reassembling fragments.

    With ``mode`` set, each inner plaintext's record size (``len + overhead``) must
    be one the mode allows.
    """

    def __init__(
        self,
        mode: PaddingMode | None = None,
        overhead: int = 0,
        *,
        fixed_size: int = DEFAULT_FIXED_SIZE,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self.mode = mode
        self.overhead = overhead
        self.fixed_size = fixed_size
        self.max_payload = max_payload
        self._type: FrameType | None = None
        self._parts: list[bytes] = []
        self._size = 0

    @property
    def pending(self) -> int:
        """Bytes of a partial (fragmented) payload held so far."""
        return self._size

    def _reset(self) -> None:
        self._type = None
        self._parts = []
        self._size = 0

    def feed(self, inner: bytes) -> Frame | None:
        """Decode one inner plaintext; ``None`` while a fragmented payload is incomplete."""
        try:
            return self._feed(inner)
        except FrameError:
            self._reset()
            raise

    def _parse(self, inner: bytes) -> tuple[FrameType, int, bytes]:
        if len(inner) < FRAME_HEADER_SIZE:
            raise FrameError(f"frame of {len(inner)} bytes is shorter than its header")
        if self.mode is not None and not is_allowed_record_size(
            self.mode, len(inner) + self.overhead, fixed_size=self.fixed_size
        ):
            raise FrameError(f"record size {len(inner) + self.overhead} not allowed")
        raw_type, flags, length = _PREFIX.unpack_from(inner)
        try:
            frame_type = FrameType(raw_type)
        except ValueError:
            raise FrameError(f"unknown frame type 0x{raw_type:02x}") from None
        if flags & ~FLAG_MORE:
            raise FrameError(f"unknown frame flags 0x{flags:02x}")
        end = FRAME_HEADER_SIZE + length
        if end > len(inner):
            raise FrameError(f"frame length {length} exceeds the frame")
        if inner.count(0, end) != len(inner) - end:
            raise FrameError("frame padding is not all zero")
        if frame_type is FrameType.DUMMY and (flags or length > MAX_DUMMY_PAYLOAD):
            raise FrameError("dummy frame with flags or an oversized payload")
        return frame_type, flags, inner[FRAME_HEADER_SIZE:end]

    def _feed(self, inner: bytes) -> Frame | None:
        frame_type, flags, payload = self._parse(inner)
        if frame_type is FrameType.DUMMY:
            return Frame(frame_type, payload)
        if self._type is not None and frame_type is not self._type:
            raise FrameError("fragment of a different type inside a fragmented payload")
        size = self._size + len(payload)
        if size > self.max_payload:
            raise FrameError(f"payload of more than {self.max_payload} bytes")
        if not flags and self._type is None:
            return Frame(frame_type, payload)
        self._parts.append(payload)
        self._type, self._size = frame_type, size
        if flags:
            return None
        whole = b"".join(self._parts)
        self._reset()
        return Frame(frame_type, whole)
