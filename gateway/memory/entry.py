"""Memory entries: canonical bytes, Ed25519 signatures, ids and size limits.

The exact layout is specified in docs/PROTOCOL-memory.md ("Entries").
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import itertools
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import EntryError, FrameError
from gateway.memory.spaces import check_space_name
from gateway.memory.wire import Reader

ENTRY_VERSION = 1
SIGN_CONTEXT = b"gateway/memory/entry/v1\x00"
ZERO_HASH = bytes(32)
SIG_LEN = 64

MAX_SPACE_BYTES = 64
MAX_TOPIC_BYTES = 256
MAX_TAGS = 32
MAX_TAG_BYTES = 64
MAX_BODY_BYTES = 65_536
MAX_METADATA_BYTES = 8_192
MAX_METADATA_DEPTH = 16
MAX_SEQ = (1 << 63) - 1
#: largest possible encoded entry (content + signature)
MAX_ENTRY_BYTES = (
    1 + 32 + 8 + 32 + 8 + 1 + 32
    + 1 + MAX_SPACE_BYTES
    + 2 + MAX_TOPIC_BYTES
    + 1 + MAX_TAGS * (1 + MAX_TAG_BYTES)
    + 4 + MAX_BODY_BYTES
    + 4 + MAX_METADATA_BYTES
    + SIG_LEN
)  # fmt: skip


class Kind(enum.IntEnum):
    """What an entry does: a note, or an edit/deletion of an earlier entry."""

    NOTE = 1
    SUPERSEDE = 2
    TOMBSTONE = 3


@dataclass(frozen=True)
class Entry:
    """One signed memory entry; ``metadata`` is canonical JSON text of an object."""

    author: bytes
    seq: int
    prev: bytes
    timestamp_ms: int
    kind: Kind
    target: bytes
    space: str
    topic: str
    tags: tuple[str, ...]
    body: str
    metadata: str
    signature: bytes

    @cached_property
    def content(self) -> bytes:
        """The canonical bytes that are signed and hashed."""
        return canonical_bytes(self)

    @cached_property
    def id(self) -> bytes:
        """SHA-256 of the canonical bytes (the signature is not included)."""
        return hashlib.sha256(self.content).digest()

    def encode(self) -> bytes:
        """Wire form: canonical bytes followed by the 64-byte signature."""
        return self.content + self.signature

    @property
    def metadata_obj(self) -> dict[str, object]:
        """The metadata as a Python object."""
        value = json.loads(self.metadata)
        assert isinstance(value, dict)
        return value


def public_bytes(key: Ed25519PublicKey) -> bytes:
    """Raw 32-byte form of an Ed25519 public key."""
    return key.public_bytes_raw()


def canonical_json(value: Mapping[str, object]) -> str:
    """Canonical JSON text of a metadata object (sorted keys, no spaces, no floats)."""
    _check_json(value, 0)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _check_json(value: object, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise EntryError("malformed", "metadata nested too deeply")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) >= 1 << 53:
            raise EntryError("malformed", "metadata integer beyond 2**53")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_json(item, depth + 1)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EntryError("malformed", "metadata key is not a string")
            _check_json(item, depth + 1)
        return
    raise EntryError("malformed", f"metadata value of type {type(value).__name__}")


def canonical_bytes(e: Entry) -> bytes:
    """The canonical content bytes of ``e`` (checked against the limits)."""
    check_fields(e)
    space = e.space.encode()
    topic = e.topic.encode()
    body = e.body.encode()
    meta = e.metadata.encode()
    parts = [
        struct.pack(">B", ENTRY_VERSION),
        e.author,
        struct.pack(">Q", e.seq),
        e.prev,
        struct.pack(">Q", e.timestamp_ms),
        struct.pack(">B", int(e.kind)),
        e.target,
        struct.pack(">B", len(space)),
        space,
        struct.pack(">H", len(topic)),
        topic,
        struct.pack(">B", len(e.tags)),
    ]
    for tag in e.tags:
        raw = tag.encode()
        parts += [struct.pack(">B", len(raw)), raw]
    parts += [struct.pack(">I", len(body)), body, struct.pack(">I", len(meta)), meta]
    return b"".join(parts)


def check_fields(e: Entry) -> None:
    """Raise EntryError (``oversized`` or ``malformed``) unless every field is in bounds."""
    _check_sizes(e)
    if len(e.author) != 32 or len(e.prev) != 32 or len(e.target) != 32:
        raise EntryError("malformed", "author, prev and target must be 32 bytes")
    if not 1 <= e.seq <= MAX_SEQ:
        raise EntryError("malformed", f"seq {e.seq} out of range")
    if (e.seq == 1) != (e.prev == ZERO_HASH):
        raise EntryError("malformed", "prev must be zero exactly when seq is 1")
    if not 0 <= e.timestamp_ms < 1 << 63:
        raise EntryError("malformed", "timestamp out of range")
    if (e.kind == Kind.NOTE) != (e.target == ZERO_HASH):
        raise EntryError("malformed", "target must be set exactly for supersede/tombstone")
    try:
        check_space_name(e.space)
    except ValueError as exc:
        raise EntryError("malformed", str(exc)) from exc
    _check_tags(e.tags)
    if len(e.signature) != SIG_LEN:
        raise EntryError("malformed", "signature must be 64 bytes")


def _check_sizes(e: Entry) -> None:
    limits = (
        ("space", e.space, MAX_SPACE_BYTES),
        ("topic", e.topic, MAX_TOPIC_BYTES),
        ("body", e.body, MAX_BODY_BYTES),
        ("metadata", e.metadata, MAX_METADATA_BYTES),
    )
    for name, value, limit in limits:
        if len(value.encode("utf-8", "surrogatepass")) > limit:
            raise EntryError("oversized", f"{name} longer than {limit} bytes")
    if len(e.tags) > MAX_TAGS:
        raise EntryError("oversized", f"more than {MAX_TAGS} tags")
    for tag in e.tags:
        if len(tag.encode("utf-8", "surrogatepass")) > MAX_TAG_BYTES:
            raise EntryError("oversized", f"tag longer than {MAX_TAG_BYTES} bytes")


def _check_tags(tags: tuple[str, ...]) -> None:
    raws = [t.encode() for t in tags]
    if any(not raw or any(c < 0x21 or c == 0x7F for c in raw) for raw in raws):
        raise EntryError("malformed", "tags must be non-empty without spaces or controls")
    if any(a >= b for a, b in itertools.pairwise(raws)):
        raise EntryError("malformed", "tags must be strictly ascending")


def normalize_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags sorted by UTF-8 bytes with duplicates removed (the canonical order)."""
    return tuple(sorted(set(tags), key=lambda t: t.encode()))


def sign_entry(
    key: Ed25519PrivateKey,
    *,
    seq: int,
    prev: bytes,
    timestamp_ms: int,
    space: str,
    body: str = "",
    topic: str = "",
    tags: Iterable[str] = (),
    metadata: Mapping[str, object] | None = None,
    kind: Kind = Kind.NOTE,
    target: bytes = ZERO_HASH,
) -> Entry:
    """Build and sign a new entry (raises EntryError if a field is out of bounds)."""
    unsigned = Entry(
        author=public_bytes(key.public_key()),
        seq=seq,
        prev=prev,
        timestamp_ms=timestamp_ms,
        kind=Kind(kind),
        target=target,
        space=space,
        topic=topic,
        tags=normalize_tags(tags),
        body=body,
        metadata=canonical_json(metadata or {}),
        signature=bytes(SIG_LEN),
    )
    signature = key.sign(SIGN_CONTEXT + unsigned.content)
    return dataclasses.replace(unsigned, signature=signature)


def verify_signature(e: Entry) -> None:
    """Raise EntryError('bad_signature') unless the author's signature is valid."""
    try:
        Ed25519PublicKey.from_public_bytes(e.author).verify(e.signature, SIGN_CONTEXT + e.content)
    except (InvalidSignature, ValueError) as exc:
        raise EntryError("bad_signature", e.id.hex()[:16]) from exc


def decode_entry(data: bytes) -> Entry:
    """Parse the wire form (structure and limits only; see verify_signature)."""
    if len(data) > MAX_ENTRY_BYTES:
        raise EntryError("oversized", f"entry of {len(data)} bytes")
    try:
        entry = _parse(Reader(data))
    except FrameError as exc:
        raise EntryError("malformed", str(exc)) from exc
    check_fields(entry)
    if entry.metadata != _recanonical(entry.metadata):
        raise EntryError("malformed", "metadata is not canonical JSON")
    if entry.encode() != data:
        raise EntryError("malformed", "entry bytes are not canonical")
    return entry


def _parse(r: Reader) -> Entry:
    version = r.u8()
    if version != ENTRY_VERSION:
        raise EntryError("malformed", f"unknown entry version {version}")
    author, seq, prev, ts = r.take(32), r.u64(), r.take(32), r.u64()
    kind_code, target = r.u8(), r.take(32)
    if kind_code not in Kind._value2member_map_:
        raise EntryError("malformed", f"unknown kind {kind_code}")
    space = r.text(r.u8())
    topic = r.text(r.u16())
    tags = tuple(r.text(r.u8()) for _ in range(r.u8()))
    body_len = r.u32()
    if body_len > MAX_BODY_BYTES:
        raise EntryError("oversized", "body")
    body = r.text(body_len)
    meta_len = r.u32()
    if meta_len > MAX_METADATA_BYTES:
        raise EntryError("oversized", "metadata")
    meta = r.text(meta_len)
    signature = r.take(SIG_LEN)
    r.end()
    return Entry(author, seq, prev, ts, Kind(kind_code), target, space, topic, tags, body, meta,
                 signature)  # fmt: skip


def _recanonical(text: str) -> str:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise EntryError("malformed", "metadata is not JSON") from exc
    if not isinstance(value, dict):
        raise EntryError("malformed", "metadata must be a JSON object")
    return canonical_json(value)


def load_entry(data: bytes) -> Entry:
    """Parse and verify the signature: the checks every received entry must pass."""
    entry = decode_entry(data)
    verify_signature(entry)
    return entry
