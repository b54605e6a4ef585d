"""The durable state of a replica as one blob (the I/O layer stores it, e.g. in SQLite).

Layout (docs/PROTOCOL-circles.md, "Snapshot"): a version byte, the genesis, the view
and counters, the stable checkpoint with its proof, the membership links, the executed
state and checkpoint states, then the log as lists of the signed wire messages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gateway.circle.codec import Reader, blob32, u8, u32, u64
from gateway.circle.decisions import (
    KEY_BYTES,
    MAX_MEMBERS,
    CircleState,
    Genesis,
    decode_genesis,
    decode_state,
)
from gateway.circle.messages import (
    MAX_MESSAGE_BYTES,
    Checkpoint,
    Commit,
    CommitCert,
    ConfigLink,
    NewView,
    Prepare,
    PreparedCert,
    PrePrepare,
    Request,
    ViewChange,
    decode_as,
)
from gateway.errors import CircleError, CircleStateError

VERSION = 1
MAGIC = b"gateway/circle/snapshot\x00"
_MAX_ITEMS = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    genesis: Genesis
    view: int
    active: bool
    backoff: int
    last_ts: int
    stable_state: CircleState
    stable_proof: tuple[Checkpoint, ...]
    links: tuple[ConfigLink, ...]
    state: CircleState
    snapshots: tuple[CircleState, ...]
    pre_prepares: tuple[PrePrepare, ...]
    prepares: tuple[Prepare, ...]
    commits: tuple[Commit, ...]
    prepared: tuple[PreparedCert, ...]
    certs: tuple[CommitCert, ...]
    checkpoints: tuple[Checkpoint, ...]
    view_changes: tuple[ViewChange, ...]
    new_view: NewView | None
    pending: tuple[Request, ...]
    own: tuple[Request, ...]
    sent_prepare: tuple[tuple[int, int], ...]
    sent_commit: tuple[tuple[int, int], ...]


def _raws(items: Sequence[object]) -> bytes:
    return u32(len(items)) + b"".join(blob32(getattr(x, "raw")) for x in items)  # noqa: B009


def encode(s: Snapshot) -> bytes:
    out = [MAGIC, u8(VERSION), blob32(s.genesis.encode())]
    out += [u64(s.view), u8(int(s.active)), u8(s.backoff), u64(s.last_ts)]
    out += [blob32(s.stable_state.encode()), _raws(s.stable_proof)]
    out.append(u32(len(s.links)))
    for link in s.links:
        out += [u64(link.seq), u8(len(link.members)), *link.members, link.body_hash]
        out.append(_raws(link.proof))
    out.append(blob32(s.state.encode()))
    out.append(u32(len(s.snapshots)))
    out += [blob32(x.encode()) for x in s.snapshots]
    out += [_raws(s.pre_prepares), _raws(s.prepares), _raws(s.commits)]
    out.append(u32(len(s.prepared)))
    for cert in s.prepared:
        out += [blob32(cert.pre_prepare.raw), _raws(cert.prepares)]
    out.append(u32(len(s.certs)))
    for cc in s.certs:
        out += [blob32(cc.request.raw if cc.request is not None else b""), _raws(cc.commits)]
    out += [_raws(s.checkpoints), _raws(s.view_changes)]
    out.append(blob32(s.new_view.raw if s.new_view is not None else b""))
    out += [_raws(s.pending), _raws(s.own)]
    for pairs in (s.sent_prepare, s.sent_commit):
        out.append(u32(len(pairs)))
        out += [u64(v) + u64(n) for v, n in pairs]
    return b"".join(out)


def decode(data: bytes) -> Snapshot:
    """Parse a snapshot blob; CircleStateError if it cannot be used."""
    if not data.startswith(MAGIC):
        raise CircleStateError("not a circle replica snapshot")
    try:
        return _decode(Reader(data[len(MAGIC) :], "snapshot"))
    except CircleError as exc:
        raise CircleStateError(f"damaged circle snapshot: {exc}") from exc


def _decode(r: Reader) -> Snapshot:
    if r.u8("version") != VERSION:
        raise CircleError("version", "snapshot version")
    genesis = decode_genesis(r.blob32("genesis", MAX_MESSAGE_BYTES))
    view, active, backoff, last_ts = r.u64("view"), bool(r.u8("active")), r.u8(), r.u64()
    stable_state = decode_state(r.blob32("stable state", 1 << 30))

    def msgs(cls: type[T]) -> tuple[T, ...]:
        n = r.count("messages", 4, _MAX_ITEMS)
        return tuple(
            decode_as(r.blob32("message", MAX_MESSAGE_BYTES), cls, verify=False) for _ in range(n)
        )

    def many(read: Callable[[], T]) -> tuple[T, ...]:
        return tuple(read() for _ in range(r.count("items", 4, _MAX_ITEMS)))

    stable_proof = msgs(Checkpoint)

    def link() -> ConfigLink:
        seq = r.u64("link seq")
        members = tuple(r.take(KEY_BYTES) for _ in range(r.count("members", 1, MAX_MEMBERS)))
        return ConfigLink(seq, members, r.take(32, "body hash"), msgs(Checkpoint))

    links = many(link)
    state = decode_state(r.blob32("state", 1 << 30))
    snapshots = many(lambda: decode_state(r.blob32("checkpoint state", 1 << 30)))
    pre_prepares, prepares, commits = msgs(PrePrepare), msgs(Prepare), msgs(Commit)

    def prepared() -> PreparedCert:
        pp = decode_as(r.blob32("pre-prepare", MAX_MESSAGE_BYTES), PrePrepare, verify=False)
        return PreparedCert(pp, msgs(Prepare))

    def cert() -> CommitCert:
        raw = r.blob32("request", MAX_MESSAGE_BYTES)
        request = decode_as(raw, Request, verify=False) if raw else None
        return CommitCert(request, msgs(Commit))

    prepared_certs = many(prepared)
    certs = many(cert)
    checkpoints, view_changes = msgs(Checkpoint), msgs(ViewChange)
    raw_nv = r.blob32("new view", MAX_MESSAGE_BYTES)
    new_view = decode_as(raw_nv, NewView, verify=False) if raw_nv else None
    pending, own = msgs(Request), msgs(Request)
    sent_prepare = many(lambda: (r.u64(), r.u64()))
    sent_commit = many(lambda: (r.u64(), r.u64()))
    r.end()
    return Snapshot(
        genesis, view, active, backoff, last_ts, stable_state, stable_proof, links, state,
        snapshots, pre_prepares, prepares, commits, prepared_certs, certs, checkpoints,
        view_changes, new_view, pending, own, sent_prepare, sent_commit,
    )  # fmt: skip
