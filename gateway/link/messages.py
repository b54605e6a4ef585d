"""Link messages: what travels inside session payloads once the handshake is done.

Sans-I/O. One link message is one session payload (a DATA frame of
:mod:`gateway.session.frames`). Layout, all integers big-endian::

    u8 version (= LINK_VERSION) | u8 type | fields

    0x01 CHANNEL_OPEN  u16 channel | u8 n | name (n bytes)
    0x02 DATA          u16 channel | msg id (16) | body (rest of the payload)
    0x03 ACK           u16 count | count * msg id (16)
    0x04 CREDIT        u16 channel | u32 messages | u32 bytes
    0x05 ERROR         u16 code | u16 channel (0: the whole link) | u16 n | detail (UTF-8)
    0x06 PING          u64 nonce
    0x07 PONG          u64 nonce
    0x08 CLOSE         u16 code | u16 n | reason (UTF-8)

A decoder refuses an unknown version (:class:`~gateway.errors.VersionError`) and
anything else that is not exactly a valid encoding (:class:`~gateway.errors.FrameError`):
truncated or trailing bytes, unknown type, channel 0 where a channel is needed,
bad names, bad UTF-8, limits exceeded. Encoding is canonical: ``encode(decode(b)) == b``.
See docs/LINK.md.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import FrameError, LinkError, VersionError

#: version byte of every link message
LINK_VERSION = 1
#: bytes of a message id: sender epoch (8) || counter (u64)
MSG_ID_SIZE = 16
EPOCH_SIZE = 8
#: the id of a DATA message that is not tracked end to end (no ack, no dedupe)
UNTRACKED = bytes(MSG_ID_SIZE)
#: largest DATA body
MAX_BODY = 512 * 1024
#: most message ids in one ACK
MAX_ACK_IDS = 1024
#: longest ERROR detail / CLOSE reason, in bytes of UTF-8
MAX_TEXT = 512
#: longest channel name
MAX_NAME = 32
#: highest channel id; 0 means "no channel" (ERROR only)
MAX_CHANNEL = 0xFFFF
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


class MessageType(enum.IntEnum):
    """The type byte of a link message."""

    CHANNEL_OPEN = 0x01
    DATA = 0x02
    ACK = 0x03
    CREDIT = 0x04
    ERROR = 0x05
    PING = 0x06
    PONG = 0x07
    CLOSE = 0x08


class ErrorCode(enum.IntEnum):
    """Codes of ERROR and CLOSE messages (unknown codes are kept as plain ints)."""

    UNKNOWN_CHANNEL = 1
    UNKNOWN_TYPE = 2
    MALFORMED = 3
    VERSION = 4
    FLOW_VIOLATION = 5
    PROTOCOL = 6
    HANDLER_FAILED = 7
    REFUSED = 8
    NORMAL_CLOSE = 9


@dataclass(frozen=True, slots=True)
class ChannelOpen:
    """The sender will send DATA on ``channel`` for the protocol ``name``."""

    channel: int
    name: str


@dataclass(frozen=True, slots=True)
class Data:
    """A message of a channel's protocol; ``msg_id`` is :data:`UNTRACKED` or end-to-end."""

    channel: int
    msg_id: bytes
    body: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    """End-to-end acknowledgement: these tracked messages were received and handled."""

    msg_ids: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Credit:
    """The receiver of ``channel`` allows this many more messages and body bytes."""

    channel: int
    messages: int
    nbytes: int


@dataclass(frozen=True, slots=True)
class Error:
    """A refusal; the link stays up. ``channel`` 0 means the link as a whole."""

    code: int
    channel: int
    detail: str


@dataclass(frozen=True, slots=True)
class Ping:
    """Asks for a PONG with the same nonce (RTT measurement, liveness)."""

    nonce: int


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to a PING."""

    nonce: int


@dataclass(frozen=True, slots=True)
class Close:
    """The sender closes the link."""

    code: int
    reason: str


LinkMessage = ChannelOpen | Data | Ack | Credit | Error | Ping | Pong | Close


def make_msg_id(epoch: bytes, counter: int) -> bytes:
    """The message id of ``counter`` (1 .. 2^64-1) in a sender ``epoch`` (8 bytes)."""
    if len(epoch) != EPOCH_SIZE or not 0 < counter <= _U64:
        raise LinkError(f"bad message id parts: epoch of {len(epoch)} bytes, counter {counter}")
    return epoch + counter.to_bytes(8, "big")


def split_msg_id(msg_id: bytes) -> tuple[bytes, int]:
    """The (epoch, counter) of a message id."""
    if len(msg_id) != MSG_ID_SIZE:
        raise LinkError(f"a message id has {MSG_ID_SIZE} bytes, got {len(msg_id)}")
    return msg_id[:EPOCH_SIZE], int.from_bytes(msg_id[EPOCH_SIZE:], "big")


def is_channel_name(name: str) -> bool:
    """Whether ``name`` is a valid channel name: 1-32 of ``[a-z0-9._-]``, alnum first."""
    return _NAME_RE.fullmatch(name) is not None


# --- encoding ------------------------------------------------------------------


def _u(value: int, size: int, what: str, low: int = 0) -> bytes:
    if not low <= value < 1 << (8 * size):
        raise LinkError(f"{what} out of range: {value}")
    return value.to_bytes(size, "big")


def _text(text: str, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > MAX_TEXT:
        raise LinkError(f"{what} longer than {MAX_TEXT} bytes")
    return _u(len(raw), 2, what) + raw


def _encode_fields(msg: LinkMessage) -> tuple[MessageType, bytes]:
    match msg:
        case ChannelOpen(channel, name):
            if not is_channel_name(name):
                raise LinkError(f"bad channel name {name!r}")
            return MessageType.CHANNEL_OPEN, _u(channel, 2, "channel", 1) + bytes(
                [len(name)]
            ) + name.encode("ascii")
        case Data(channel, msg_id, body):
            if len(msg_id) != MSG_ID_SIZE or len(body) > MAX_BODY:
                raise LinkError(f"DATA: id of {len(msg_id)} bytes, body of {len(body)} bytes")
            return MessageType.DATA, _u(channel, 2, "channel", 1) + msg_id + body
        case Ack(msg_ids):
            if not 0 < len(msg_ids) <= MAX_ACK_IDS or any(len(m) != MSG_ID_SIZE for m in msg_ids):
                raise LinkError(f"ACK: 1..{MAX_ACK_IDS} ids of {MSG_ID_SIZE} bytes")
            return MessageType.ACK, _u(len(msg_ids), 2, "count") + b"".join(msg_ids)
        case Credit(channel, messages, nbytes):
            if messages == 0 and nbytes == 0:
                raise LinkError("CREDIT grants nothing")
            fields = _u(channel, 2, "channel", 1) + _u(messages, 4, "messages")
            return MessageType.CREDIT, fields + _u(nbytes, 4, "bytes")
        case Error(code, channel, detail):
            fields = _u(code, 2, "code") + _u(channel, 2, "channel") + _text(detail, "detail")
            return MessageType.ERROR, fields
        case Ping(nonce):
            return MessageType.PING, _u(nonce, 8, "nonce")
        case Pong(nonce):
            return MessageType.PONG, _u(nonce, 8, "nonce")
        case Close(code, reason):
            return MessageType.CLOSE, _u(code, 2, "code") + _text(reason, "reason")
    raise LinkError(f"not a link message: {type(msg).__name__}")


def encode(msg: LinkMessage) -> bytes:
    """The bytes of ``msg``; :class:`~gateway.errors.LinkError` if a field is out of range."""
    kind, fields = _encode_fields(msg)
    return bytes([LINK_VERSION, kind]) + fields


# --- decoding ------------------------------------------------------------------


class _Reader:
    """Bounds-checked reads; every shortfall is a FrameError."""

    def __init__(self, data: bytes, offset: int) -> None:
        self._data = data
        self._pos = offset

    def take(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise FrameError(f"link message truncated: wanted {n} bytes at offset {self._pos}")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def channel(self) -> int:
        value = self.uint(2)
        if value == 0:
            raise FrameError("channel 0 is reserved")
        return value

    def text(self) -> str:
        n = self.uint(2)
        if n > MAX_TEXT:
            raise FrameError(f"text of {n} bytes exceeds {MAX_TEXT}")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FrameError("text is not valid UTF-8") from exc

    def rest(self) -> bytes:
        chunk = self._data[self._pos :]
        self._pos = len(self._data)
        return chunk

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise FrameError(f"{len(self._data) - self._pos} trailing bytes after link message")


def _open(r: _Reader) -> ChannelOpen:
    channel = r.channel()
    raw = r.take(r.uint(1))
    name = raw.decode("ascii", errors="replace")
    if not is_channel_name(name):
        raise FrameError(f"bad channel name {raw[:MAX_NAME]!r}")
    return ChannelOpen(channel, name)


def _data(r: _Reader) -> Data:
    channel = r.channel()
    msg_id = r.take(MSG_ID_SIZE)
    body = r.rest()
    if len(body) > MAX_BODY:
        raise FrameError(f"DATA body of {len(body)} bytes exceeds {MAX_BODY}")
    return Data(channel, msg_id, body)


def _ack(r: _Reader) -> Ack:
    count = r.uint(2)
    if not 0 < count <= MAX_ACK_IDS:
        raise FrameError(f"ACK count {count} not in 1..{MAX_ACK_IDS}")
    return Ack(tuple(r.take(MSG_ID_SIZE) for _ in range(count)))


def _credit(r: _Reader) -> Credit:
    msg = Credit(r.channel(), r.uint(4), r.uint(4))
    if msg.messages == 0 and msg.nbytes == 0:
        raise FrameError("CREDIT grants nothing")
    return msg


def _error(r: _Reader) -> Error:
    return Error(r.uint(2), r.uint(2), r.text())


def _close(r: _Reader) -> Close:
    return Close(r.uint(2), r.text())


_DECODERS: dict[MessageType, Callable[[_Reader], LinkMessage]] = {
    MessageType.CHANNEL_OPEN: _open,
    MessageType.DATA: _data,
    MessageType.ACK: _ack,
    MessageType.CREDIT: _credit,
    MessageType.ERROR: _error,
    MessageType.PING: lambda r: Ping(r.uint(8)),
    MessageType.PONG: lambda r: Pong(r.uint(8)),
    MessageType.CLOSE: _close,
}


def peek_type(data: bytes) -> int | None:
    """The type byte of an encoded message, or ``None`` if there is none."""
    return data[1] if len(data) >= 2 else None


def is_known_type(value: int) -> bool:
    """Whether ``value`` is a message type this version understands."""
    return value in MessageType._value2member_map_


def decode(data: bytes) -> LinkMessage:
    """The message encoded in ``data``; FrameError or VersionError if it is not valid."""
    if len(data) < 2:
        raise FrameError(f"link message of {len(data)} bytes is too short")
    if data[0] != LINK_VERSION:
        raise VersionError(f"link message version {data[0]} (supported: {LINK_VERSION})")
    if not is_known_type(data[1]):
        raise FrameError(f"unknown link message type 0x{data[1]:02x}")
    reader = _Reader(data, 2)
    msg: LinkMessage = _DECODERS[MessageType(data[1])](reader)
    reader.finish()
    return msg
