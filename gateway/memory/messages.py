"""Wire encoding of memory sync messages (see docs/PROTOCOL-memory.md, "Messages")."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import FrameError, VersionError
from gateway.memory.merkle import SignedTreeHead, decode_tree_head
from gateway.memory.reconcile import INFINITY, Bound, Mode, RangePart
from gateway.memory.reconcile.fingerprint import FINGERPRINT_BYTES
from gateway.memory.reconcile.items import ID_BYTES
from gateway.memory.wire import Reader, str8, varint

SYNC_VERSION = 1
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: Entries messages are cut so that their encoded size stays below this
ENTRIES_CHUNK_BYTES = 256 * 1024
MAX_WANT_IDS = 4096
MAX_PROOF_HASHES = 128


class MsgType(enum.IntEnum):
    """Message type codes (second byte of every message)."""

    HELLO = 1
    IN_SYNC = 2
    RECONCILE = 3
    WANT = 4
    ENTRIES = 5
    DONE = 6
    TREE_HEAD = 7
    CONSISTENCY_REQUEST = 8
    REFUSE = 9


@dataclass(frozen=True)
class Head:
    """The newest entry of one author's chain in a space."""

    author: bytes
    seq: int
    id: bytes


@dataclass(frozen=True)
class Hello:
    """A space summary: item count, whole-set fingerprint, per-author heads."""

    space: str
    count: int
    fingerprint: bytes
    heads: tuple[Head, ...]


@dataclass(frozen=True)
class InSync:
    """The sender's summary of ``space`` equals the one it received."""

    space: str


@dataclass(frozen=True)
class Reconcile:
    """One step of range-based reconciliation for ``space``."""

    space: str
    parts: tuple[RangePart, ...]


@dataclass(frozen=True)
class Want:
    """A request for the entries with these ids."""

    space: str
    ids: tuple[bytes, ...]


@dataclass(frozen=True)
class Entries:
    """Encoded entries; ``answer``: replies to a Want; ``last``: final chunk of that reply."""

    space: str
    entries: tuple[bytes, ...]
    answer: bool
    last: bool


@dataclass(frozen=True)
class Done:
    """The sender has nothing more to reconcile in ``space``."""

    space: str


@dataclass(frozen=True)
class TreeHead:
    """The sender's signed tree head, with a consistency proof from ``from_size``."""

    sth: SignedTreeHead
    from_size: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsistencyRequest:
    """Ask for a TreeHead whose proof starts at ``from_size``."""

    from_size: int


@dataclass(frozen=True)
class Refuse:
    """The sender will not sync ``space`` with this peer (``reason`` says why)."""

    space: str
    reason: str


Message = (
    Hello | InSync | Reconcile | Want | Entries | Done | TreeHead | ConsistencyRequest | Refuse
)


def encode(msg: Message) -> bytes:
    """Bytes of one message (version byte, type byte, body)."""
    mtype, body = _encode_body(msg)
    return bytes([SYNC_VERSION, mtype]) + body


def _encode_body(msg: Message) -> tuple[MsgType, bytes]:
    match msg:
        case Hello():
            heads = b"".join(h.author + varint(h.seq) + h.id for h in msg.heads)
            body = varint(msg.count) + msg.fingerprint + varint(len(msg.heads)) + heads
            return MsgType.HELLO, str8(msg.space) + body
        case InSync():
            return MsgType.IN_SYNC, str8(msg.space)
        case Reconcile():
            return MsgType.RECONCILE, str8(msg.space) + encode_parts(msg.parts)
        case Want():
            return MsgType.WANT, str8(msg.space) + varint(len(msg.ids)) + b"".join(msg.ids)
        case Entries():
            flags = int(msg.answer) | int(msg.last) << 1
            items = b"".join(varint(len(e)) + e for e in msg.entries)
            return MsgType.ENTRIES, str8(msg.space) + bytes([flags]) + varint(
                len(msg.entries)
            ) + items
        case Done():
            return MsgType.DONE, str8(msg.space)
        case TreeHead():
            proof = varint(len(msg.proof)) + b"".join(msg.proof)
            return MsgType.TREE_HEAD, msg.sth.encode() + varint(msg.from_size) + proof
        case ConsistencyRequest():
            return MsgType.CONSISTENCY_REQUEST, varint(msg.from_size)
        case Refuse():
            return MsgType.REFUSE, str8(msg.space) + str8(msg.reason)
    raise TypeError(f"not a sync message: {type(msg).__name__}")


def encode_parts(parts: tuple[RangePart, ...]) -> bytes:
    """Range list: count, then per range: bound, mode, payload."""
    out = [varint(len(parts))]
    prev_ts = 0
    for part in parts:
        out.append(_encode_bound(part.upper, prev_ts))
        if part.upper != INFINITY:
            prev_ts = part.upper.timestamp
        out.append(varint(int(part.mode)))
        if part.mode == Mode.FINGERPRINT:
            out.append(part.fingerprint)
        elif part.mode == Mode.IDLIST:
            out.append(varint(len(part.ids)) + b"".join(part.ids))
    return b"".join(out)


def _encode_bound(bound: Bound, prev_ts: int) -> bytes:
    if bound == INFINITY:
        return varint(0) + b"\x00"
    return varint(bound.timestamp - prev_ts + 1) + bytes([len(bound.prefix)]) + bound.prefix


def decode(data: bytes) -> Message:
    """Parse one message; FrameError/VersionError on anything malformed."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise FrameError(f"sync message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    r = Reader(data)
    version = r.u8()
    if version != SYNC_VERSION:
        raise VersionError(f"unknown memory sync version {version}")
    code = r.u8()
    if code not in MsgType._value2member_map_:
        raise FrameError(f"unknown sync message type {code}")
    msg = _DECODERS[MsgType(code)](r)
    r.end()
    return msg


def _hello(r: Reader) -> Hello:
    space, count, fp = r.str8(), r.varint(), r.take(FINGERPRINT_BYTES)
    n = _count(r, r.varint(), ID_BYTES * 2 + 1)
    heads = tuple(Head(r.take(32), r.varint(), r.take(32)) for _ in range(n))
    return Hello(space, count, fp, heads)


def _reconcile(r: Reader) -> Reconcile:
    return Reconcile(r.str8(), decode_parts(r))


def decode_parts(r: Reader) -> tuple[RangePart, ...]:
    """Inverse of encode_parts."""
    parts: list[RangePart] = []
    prev_ts = 0
    for _ in range(_count(r, r.varint(), 2)):
        bound = _decode_bound(r, prev_ts)
        if bound != INFINITY:
            prev_ts = bound.timestamp
        mode = r.varint()
        if mode == Mode.SKIP:
            parts.append(RangePart(bound, Mode.SKIP))
        elif mode == Mode.FINGERPRINT:
            parts.append(RangePart(bound, Mode.FINGERPRINT, r.take(FINGERPRINT_BYTES)))
        elif mode == Mode.IDLIST:
            n = _count(r, r.varint(), ID_BYTES)
            parts.append(RangePart(bound, Mode.IDLIST, ids=tuple(r.take(32) for _ in range(n))))
        else:
            raise FrameError(f"unknown range mode {mode}")
    return tuple(parts)


def _decode_bound(r: Reader, prev_ts: int) -> Bound:
    delta = r.varint()
    length = r.u8()
    if length > ID_BYTES:
        raise FrameError("bound prefix longer than an id")
    prefix = r.take(length)
    if delta == 0:
        if length:
            raise FrameError("infinite bound with a prefix")
        return INFINITY
    ts = prev_ts + delta - 1
    if ts >= 1 << 64:
        raise FrameError("bound timestamp out of range")
    return Bound(ts, prefix)


def _want(r: Reader) -> Want:
    space = r.str8()
    n = _count(r, r.varint(), ID_BYTES)
    if n > MAX_WANT_IDS:
        raise FrameError(f"want of {n} ids exceeds {MAX_WANT_IDS}")
    return Want(space, tuple(r.take(32) for _ in range(n)))


def _entries(r: Reader) -> Entries:
    space, flags = r.str8(), r.u8()
    if flags > 3:
        raise FrameError("unknown entries flags")
    n = _count(r, r.varint(), 1)
    items = tuple(r.take(r.varint()) for _ in range(n))
    return Entries(space, items, bool(flags & 1), bool(flags & 2))


def _tree_head(r: Reader) -> TreeHead:
    sth = decode_tree_head(r)
    from_size = r.varint()
    n = r.varint()
    if n > MAX_PROOF_HASHES:
        raise FrameError("consistency proof too long")
    return TreeHead(sth, from_size, tuple(r.take(32) for _ in range(n)))


def _count(r: Reader, n: int, min_item_bytes: int) -> int:
    """Refuse counts that cannot fit in the remaining bytes (no huge allocations)."""
    if n * min_item_bytes > r.remaining:
        raise FrameError(f"count {n} exceeds the message")
    return n


def _in_sync(r: Reader) -> InSync:
    return InSync(r.str8())


def _done(r: Reader) -> Done:
    return Done(r.str8())


def _consistency_request(r: Reader) -> ConsistencyRequest:
    return ConsistencyRequest(r.varint())


def _refuse(r: Reader) -> Refuse:
    return Refuse(r.str8(), r.str8())


_DECODERS: dict[MsgType, Callable[[Reader], Message]] = {
    MsgType.HELLO: _hello,
    MsgType.IN_SYNC: _in_sync,
    MsgType.RECONCILE: _reconcile,
    MsgType.WANT: _want,
    MsgType.ENTRIES: _entries,
    MsgType.DONE: _done,
    MsgType.TREE_HEAD: _tree_head,
    MsgType.CONSISTENCY_REQUEST: _consistency_request,
    MsgType.REFUSE: _refuse,
}
