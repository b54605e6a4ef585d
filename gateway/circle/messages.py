"""The circle wire messages: canonical binary, each signed with its author's Ed25519 key.

Every message is ``header || signature || attachment``::

    header    = version u8 (=1) || type u8 || circle_id[32] || signer[32] || body
    signature = Ed25519(signer, DOMAIN || header)                          (64 bytes)

The attachment is empty except for PRE-PREPARE, which carries its request there
(``u32 length || REQUEST``), outside the signature: the signed digest binds it, and a
PREPARE can repeat the primary's signature on the bare header (equivocation evidence).
Bodies and limits are in docs/PROTOCOL-circles.md. :func:`decode` refuses anything else
with a :class:`~gateway.errors.CircleError` naming what was wrong, and never raises any
other exception on peer bytes.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.circle.codec import Reader, blob32, u8, u16, u64
from gateway.circle.decisions import (
    ID_BYTES,
    KEY_BYTES,
    MAX_MEMBERS,
    SIG_BYTES,
    CircleState,
    Decision,
    decode_decision,
    decode_state,
    encode_decision,
    public_bytes,
    sha256,
    state_digest,
)
from gateway.errors import CircleError

VERSION = 1
DOMAIN = b"gateway/circle/msg/v1\x00"
#: the digest of the null request a view change fills gaps with
NULL_DIGEST = bytes(32)
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_DECISION_BYTES = 2048
#: most prepared certificates in a VIEW-CHANGE, pre-prepares in a NEW-VIEW, or commit
#: certificates in a STATE-REPLY (the watermark window is at most this long)
MAX_CERTS = 512
MAX_LINKS = 4096
_HEAD = 2 + ID_BYTES + KEY_BYTES
T = TypeVar("T")
_Builder = Callable[[bytes, bytes, "Request | None"], "Message"]


class MsgType(enum.IntEnum):
    REQUEST = 1
    PRE_PREPARE = 2
    PREPARE = 3
    COMMIT = 4
    CHECKPOINT = 5
    VIEW_CHANGE = 6
    NEW_VIEW = 7
    STATE_REQUEST = 8
    STATE_REPLY = 9


@dataclass(frozen=True)
class Request:
    """A member's signed proposal; ``digest`` = SHA-256 of its wire bytes."""

    circle_id: bytes
    signer: bytes
    timestamp: int
    decision: Decision
    sig: bytes
    raw: bytes

    @functools.cached_property
    def digest(self) -> bytes:
        return sha256(self.raw)


@dataclass(frozen=True)
class PrePrepare:
    """The primary binds ``digest`` (of ``request``, or NULL_DIGEST) to (view, seq)."""

    circle_id: bytes
    signer: bytes
    view: int
    seq: int
    digest: bytes
    request: Request | None
    sig: bytes
    raw: bytes


@dataclass(frozen=True)
class Prepare:
    """A backup accepted the pre-prepare whose primary signature is ``pp_sig``."""

    circle_id: bytes
    signer: bytes
    view: int
    seq: int
    digest: bytes
    pp_sig: bytes
    sig: bytes
    raw: bytes


@dataclass(frozen=True)
class Commit:
    circle_id: bytes
    signer: bytes
    view: int
    seq: int
    digest: bytes
    sig: bytes
    raw: bytes


@dataclass(frozen=True)
class Checkpoint:
    """The signer executed up to ``seq`` and its state digest is ``state_digest``."""

    circle_id: bytes
    signer: bytes
    seq: int
    state_digest: bytes
    sig: bytes
    raw: bytes


@dataclass(frozen=True)
class PreparedCert:
    """A pre-prepare and matching PREPAREs from distinct backups."""

    pre_prepare: PrePrepare
    prepares: tuple[Prepare, ...]


@dataclass(frozen=True)
class ViewChange:
    circle_id: bytes
    signer: bytes
    new_view: int
    stable_seq: int
    stable_digest: bytes
    proof: tuple[Checkpoint, ...]
    prepared: tuple[PreparedCert, ...]
    sig: bytes
    raw: bytes


@dataclass(frozen=True)
class NewView:
    circle_id: bytes
    signer: bytes
    new_view: int
    view_changes: tuple[ViewChange, ...]
    pre_prepares: tuple[PrePrepare, ...]
    sig: bytes
    raw: bytes


@dataclass(frozen=True)
class StateRequest:
    """The signer has executed up to ``last_executed``; its stable checkpoint is
    ``stable_seq``."""

    circle_id: bytes
    signer: bytes
    last_executed: int
    stable_seq: int
    sig: bytes
    raw: bytes


@dataclass(frozen=True)
class ConfigLink:
    """The members after checkpoint ``seq``, proven by that checkpoint's certificate."""

    seq: int
    members: tuple[bytes, ...]
    body_hash: bytes
    proof: tuple[Checkpoint, ...]


@dataclass(frozen=True)
class CommitCert:
    """COMMITs from distinct members for one (view, seq, digest) and the request."""

    request: Request | None
    commits: tuple[Commit, ...]

    @property
    def seq(self) -> int:
        return self.commits[0].seq

    @property
    def digest(self) -> bytes:
        return self.commits[0].digest


@dataclass(frozen=True)
class StateReply:
    circle_id: bytes
    signer: bytes
    state: CircleState | None  # the stable checkpoint's state, if sent
    proof: tuple[Checkpoint, ...]  # its certificate
    links: tuple[ConfigLink, ...]  # membership changes the requester has not seen
    certs: tuple[CommitCert, ...]  # committed sequence numbers after it
    sig: bytes
    raw: bytes


Message = (
    Request
    | PrePrepare
    | Prepare
    | Commit
    | Checkpoint
    | ViewChange
    | NewView
    | StateRequest
    | StateReply
)


# --- signatures ----------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)
def _verified(signer: bytes, sig: bytes, payload: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(signer).verify(sig, payload)
    except (InvalidSignature, ValueError):
        return False
    return True


def _header(mtype: MsgType, circle_id: bytes, signer: bytes, body: bytes) -> bytes:
    return u8(VERSION) + u8(mtype) + circle_id + signer + body


def pre_prepare_header(
    circle_id: bytes, primary: bytes, view: int, seq: int, digest: bytes
) -> bytes:
    """The signed part of a PRE-PREPARE."""
    return _header(MsgType.PRE_PREPARE, circle_id, primary, u64(view) + u64(seq) + digest)


def pre_prepare_signed(
    circle_id: bytes, primary: bytes, view: int, seq: int, digest: bytes, sig: bytes
) -> bool:
    """Whether ``sig`` is ``primary``'s signature on PRE-PREPARE(view, seq, digest)."""
    header = pre_prepare_header(circle_id, primary, view, seq, digest)
    return _verified(primary, sig, DOMAIN + header)


# --- encoding ------------------------------------------------------------------------


def _sign(
    key: Ed25519PrivateKey, mtype: MsgType, circle_id: bytes, body: bytes, attachment: bytes = b""
) -> bytes:
    header = _header(mtype, circle_id, public_bytes(key), body)
    sig = key.sign(DOMAIN + header)
    return header + sig + attachment


def make_request(
    key: Ed25519PrivateKey, circle_id: bytes, timestamp: int, decision: Decision
) -> Request:
    data = encode_decision(decision)
    raw = _sign(key, MsgType.REQUEST, circle_id, u64(timestamp) + blob32(data))
    return _typed(decode(raw, verify=False), Request)


def make_pre_prepare(
    key: Ed25519PrivateKey, circle_id: bytes, view: int, seq: int, request: Request | None
) -> PrePrepare:
    digest = request.digest if request is not None else NULL_DIGEST
    attachment = blob32(request.raw if request is not None else b"")
    body = u64(view) + u64(seq) + digest
    raw = _sign(key, MsgType.PRE_PREPARE, circle_id, body, attachment)
    return _typed(decode(raw, verify=False), PrePrepare)


def make_prepare(key: Ed25519PrivateKey, pp: PrePrepare) -> Prepare:
    body = u64(pp.view) + u64(pp.seq) + pp.digest + pp.sig
    return _typed(decode(_sign(key, MsgType.PREPARE, pp.circle_id, body), verify=False), Prepare)


def make_commit(
    key: Ed25519PrivateKey, circle_id: bytes, view: int, seq: int, digest: bytes
) -> Commit:
    raw = _sign(key, MsgType.COMMIT, circle_id, u64(view) + u64(seq) + digest)
    return _typed(decode(raw, verify=False), Commit)


def make_checkpoint(
    key: Ed25519PrivateKey, circle_id: bytes, seq: int, digest: bytes
) -> Checkpoint:
    raw = _sign(key, MsgType.CHECKPOINT, circle_id, u64(seq) + digest)
    return _typed(decode(raw, verify=False), Checkpoint)


def _prepared_bytes(cert: PreparedCert) -> bytes:
    return (
        blob32(cert.pre_prepare.raw)
        + u8(len(cert.prepares))
        + b"".join(blob32(p.raw) for p in cert.prepares)
    )


def make_view_change(
    key: Ed25519PrivateKey,
    circle_id: bytes,
    new_view: int,
    stable_seq: int,
    stable_digest: bytes,
    proof: Sequence[Checkpoint],
    prepared: Sequence[PreparedCert],
) -> ViewChange:
    body = (
        u64(new_view)
        + u64(stable_seq)
        + stable_digest
        + u8(len(proof))
        + b"".join(blob32(c.raw) for c in proof)
        + u16(len(prepared))
        + b"".join(_prepared_bytes(c) for c in prepared)
    )
    raw = _sign(key, MsgType.VIEW_CHANGE, circle_id, body)
    return _typed(decode(raw, verify=False), ViewChange)


def make_new_view(
    key: Ed25519PrivateKey,
    circle_id: bytes,
    new_view: int,
    view_changes: Sequence[ViewChange],
    pre_prepares: Sequence[PrePrepare],
) -> NewView:
    body = (
        u64(new_view)
        + u8(len(view_changes))
        + b"".join(blob32(v.raw) for v in view_changes)
        + u16(len(pre_prepares))
        + b"".join(blob32(p.raw) for p in pre_prepares)
    )
    raw = _sign(key, MsgType.NEW_VIEW, circle_id, body)
    return _typed(decode(raw, verify=False), NewView)


def make_state_request(
    key: Ed25519PrivateKey, circle_id: bytes, last_executed: int, stable_seq: int
) -> StateRequest:
    raw = _sign(key, MsgType.STATE_REQUEST, circle_id, u64(last_executed) + u64(stable_seq))
    return _typed(decode(raw, verify=False), StateRequest)


def make_state_reply(
    key: Ed25519PrivateKey,
    circle_id: bytes,
    state: CircleState | None,
    proof: Sequence[Checkpoint],
    links: Sequence[ConfigLink],
    certs: Sequence[CommitCert],
) -> StateReply:
    parts = []
    if state is None:
        parts.append(u8(0))
    else:
        parts += [u8(1), u8(len(proof)), *(blob32(c.raw) for c in proof)]
        parts.append(u16(len(links)))
        for link in links:
            parts += [u64(link.seq), u8(len(link.members)), *link.members, link.body_hash]
            parts += [u8(len(link.proof)), *(blob32(c.raw) for c in link.proof)]
        parts.append(blob32(state.encode()))
    parts.append(u16(len(certs)))
    for cert in certs:
        parts.append(blob32(cert.request.raw if cert.request is not None else b""))
        parts += [u8(len(cert.commits)), *(blob32(c.raw) for c in cert.commits)]
    raw = _sign(key, MsgType.STATE_REPLY, circle_id, b"".join(parts))
    return _typed(decode(raw, verify=False), StateReply)


# --- decoding ------------------------------------------------------------------------


def decode(data: bytes, *, verify: bool = True) -> Message:
    """Parse one message and check its signature (and every embedded one).

    Raises CircleError (``reason``: truncated, trailing, oversized, version, unknown_type,
    malformed, bad_signature, wrong_circle) and nothing else.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CircleError("malformed", "a message must be bytes")
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise CircleError("oversized", f"message of {len(data)} bytes")
    try:
        return _decode(data, verify)
    except CircleError:
        raise
    except RecursionError as exc:  # pragma: no cover - nesting is bounded by type
        raise CircleError("malformed", "nested too deep") from exc


def decode_as(data: bytes, cls: type[T], *, verify: bool = True) -> T:
    """Decode a message that must be a ``cls``."""
    return _typed(decode(data, verify=verify), cls)


def _typed(msg: Message, cls: type[T]) -> T:
    if not isinstance(msg, cls):
        raise CircleError("malformed", f"expected {cls.__name__}, got {type(msg).__name__}")
    return msg


def _decode(data: bytes, verify: bool) -> Message:
    r = Reader(data, "message")
    version = r.u8("version")
    if version != VERSION:
        raise CircleError("version", f"message version {version} is not {VERSION}")
    type_byte = r.u8("type")
    try:
        mtype = MsgType(type_byte)
    except ValueError as exc:
        raise CircleError("unknown_type", f"message type {type_byte}") from exc
    circle_id = r.take(ID_BYTES, "circle id")
    signer = r.take(KEY_BYTES, "signer")
    what = mtype.name.replace("_", "-")
    body_reader = _BodyReader(r, what, circle_id, verify)
    build = body_reader.body(mtype, circle_id, signer)
    header_end = len(data) - r.remaining
    sig = r.take(SIG_BYTES, f"{what} signature")
    attachment: Request | None = None
    if mtype is MsgType.PRE_PREPARE:
        raw_request = r.blob32("request", MAX_MESSAGE_BYTES)
        if raw_request:
            attachment = body_reader.nested(raw_request, Request, "request")
    r.end()
    if verify and not _verified(signer, sig, DOMAIN + data[:header_end]):
        raise CircleError("bad_signature", f"{what} from {signer.hex()[:16]}")
    return build(sig, data, attachment)


class _BodyReader:
    """Reads the body of one message type; nested messages are decoded recursively."""

    def __init__(self, r: Reader, what: str, circle_id: bytes, verify: bool) -> None:
        self.r = r
        self.what = what
        self.circle_id = circle_id
        self.verify = verify

    def nested(self, raw: bytes, cls: type[T], field: str) -> T:
        msg = _decode(raw, self.verify)
        if not isinstance(msg, cls):
            raise CircleError("malformed", f"{self.what}: {field} is a {type(msg).__name__}")
        if getattr(msg, "circle_id", None) != self.circle_id:
            raise CircleError("wrong_circle", f"{self.what}: {field} of another circle")
        return msg

    def nested_list(self, cls: type[T], field: str, width: int, limit: int) -> list[T]:
        n = self.r.count(field, width, limit)
        return [self.nested(self.r.blob32(field, MAX_MESSAGE_BYTES), cls, field) for _ in range(n)]

    def body(self, mtype: MsgType, circle_id: bytes, signer: bytes) -> _Builder:
        """Read the body of a ``mtype`` message; returns what builds it from (signature,
        raw bytes, attached request) and checks what needs no state."""
        r, c, s = self.r, circle_id, signer
        what = self.what
        if mtype is MsgType.REQUEST:
            timestamp = r.u64("timestamp")
            decision = decode_decision(r.blob32("decision", MAX_DECISION_BYTES))
            return lambda sig, raw, _: Request(c, s, timestamp, decision, sig, raw)
        if mtype is MsgType.PRE_PREPARE:
            view, seq, digest = r.u64("view"), r.u64("seq"), r.take(32, "digest")
            _check_seq(seq, what)

            def pre_prepare(sig: bytes, raw: bytes, request: Request | None) -> Message:
                if request is None and digest != NULL_DIGEST:
                    raise CircleError("malformed", "PRE-PREPARE: no request for a non-null digest")
                if request is not None and request.digest != digest:
                    raise CircleError("malformed", "PRE-PREPARE: the request does not match")
                return PrePrepare(c, s, view, seq, digest, request, sig, raw)

            return pre_prepare
        if mtype is MsgType.PREPARE:
            view, seq, digest = r.u64("view"), r.u64("seq"), r.take(32, "digest")
            pp_sig = r.take(SIG_BYTES, "pp sig")
            _check_seq(seq, what)
            return lambda sig, raw, _: Prepare(c, s, view, seq, digest, pp_sig, sig, raw)
        if mtype is MsgType.COMMIT:
            view, seq, digest = r.u64("view"), r.u64("seq"), r.take(32, "digest")
            _check_seq(seq, what)
            return lambda sig, raw, _: Commit(c, s, view, seq, digest, sig, raw)
        if mtype is MsgType.CHECKPOINT:
            seq, digest = r.u64("seq"), r.take(32, "state digest")
            return lambda sig, raw, _: Checkpoint(c, s, seq, digest, sig, raw)
        if mtype is MsgType.VIEW_CHANGE:
            return self._view_change(c, s)
        if mtype is MsgType.NEW_VIEW:
            new_view = r.u64("new view")
            vcs = tuple(self.nested_list(ViewChange, "view changes", 1, MAX_MEMBERS))
            pps = tuple(self.nested_list(PrePrepare, "pre-prepares", 2, MAX_CERTS))

            def new_view_msg(sig: bytes, raw: bytes, _: Request | None) -> Message:
                nv = NewView(c, s, new_view, vcs, pps, sig, raw)
                check_new_view(nv)
                return nv

            return new_view_msg
        if mtype is MsgType.STATE_REQUEST:
            last, stable = r.u64("last executed"), r.u64("stable seq")
            if stable > last:
                raise CircleError(
                    "malformed", "STATE-REQUEST: stable checkpoint after last executed"
                )
            return lambda sig, raw, _: StateRequest(c, s, last, stable, sig, raw)
        return self._state_reply(c, s)

    def _view_change(self, c: bytes, s: bytes) -> _Builder:
        r = self.r
        new_view = r.u64("new view")
        stable_seq = r.u64("stable seq")
        stable_digest = r.take(32, "stable digest")
        proof = tuple(self.nested_list(Checkpoint, "checkpoint proof", 1, MAX_MEMBERS))
        certs = []
        for _ in range(r.count("prepared certificates", 2, MAX_CERTS)):
            pp = self.nested(r.blob32("pre-prepare", MAX_MESSAGE_BYTES), PrePrepare, "pre-prepare")
            prepares = self.nested_list(Prepare, "prepares", 1, MAX_MEMBERS)
            certs.append(PreparedCert(pp, tuple(prepares)))

        def build(sig: bytes, raw: bytes, _: Request | None) -> Message:
            vc = ViewChange(
                c, s, new_view, stable_seq, stable_digest, proof, tuple(certs), sig, raw
            )
            check_view_change(vc)
            return vc

        return build

    def _state_reply(self, c: bytes, s: bytes) -> _Builder:
        r = self.r
        state: CircleState | None = None
        proof: tuple[Checkpoint, ...] = ()
        links = []
        flag = r.u8("has state")
        if flag > 1:
            raise CircleError("malformed", f"STATE-REPLY: has-state flag {flag}")
        if flag:
            proof = tuple(self.nested_list(Checkpoint, "checkpoint proof", 1, MAX_MEMBERS))
            for _ in range(r.count("config links", 2, MAX_LINKS)):
                seq = r.u64("link seq")
                n = r.count("link members", 1, MAX_MEMBERS)
                members = tuple(r.take(KEY_BYTES, "link member") for _ in range(n))
                body_hash = r.take(32, "link body hash")
                link_proof = tuple(self.nested_list(Checkpoint, "link proof", 1, MAX_MEMBERS))
                links.append(ConfigLink(seq, members, body_hash, link_proof))
            state = decode_state(r.blob32("state", MAX_MESSAGE_BYTES))
        certs = []
        for _ in range(r.count("commit certificates", 2, MAX_CERTS)):
            raw_request = r.blob32("request", MAX_MESSAGE_BYTES)
            request = self.nested(raw_request, Request, "request") if raw_request else None
            commits = self.nested_list(Commit, "commits", 1, MAX_MEMBERS)
            certs.append(CommitCert(request, tuple(commits)))

        def build(sig: bytes, raw: bytes, _: Request | None) -> Message:
            reply = StateReply(c, s, state, proof, tuple(links), tuple(certs), sig, raw)
            check_state_reply(reply)
            return reply

        return build


def _check_seq(seq: int, what: str) -> None:
    if seq == 0:
        raise CircleError("malformed", f"{what}: sequence number 0")


def _distinct(signers: Sequence[bytes], what: str) -> None:
    if len(set(signers)) != len(signers):
        raise CircleError("malformed", f"{what}: the same member twice")


def check_checkpoint_proof(proof: Sequence[Checkpoint], seq: int, digest: bytes, what: str) -> None:
    """Every message of ``proof`` vouches for (seq, digest), from distinct members."""
    for c in proof:
        if c.seq != seq or c.state_digest != digest:
            raise CircleError("malformed", f"{what}: a checkpoint proof for another state")
    _distinct([c.signer for c in proof], f"{what} checkpoint proof")


def check_prepared(cert: PreparedCert, what: str) -> None:
    pp = cert.pre_prepare
    for p in cert.prepares:
        if (p.view, p.seq, p.digest, p.pp_sig) != (pp.view, pp.seq, pp.digest, pp.sig):
            raise CircleError("malformed", f"{what}: a prepare that does not match")
        if p.signer == pp.signer:
            raise CircleError("malformed", f"{what}: the primary prepared its own pre-prepare")
    _distinct([p.signer for p in cert.prepares], f"{what} prepares")


def check_view_change(vc: ViewChange) -> None:
    what = "VIEW-CHANGE"
    if vc.new_view == 0:
        raise CircleError("malformed", f"{what}: to view 0")
    if vc.stable_seq == 0 and vc.proof:
        raise CircleError("malformed", f"{what}: a proof for the genesis")
    check_checkpoint_proof(vc.proof, vc.stable_seq, vc.stable_digest, what)
    last = vc.stable_seq
    for cert in vc.prepared:
        pp = cert.pre_prepare
        if pp.seq <= last:
            raise CircleError("malformed", f"{what}: prepared certificates out of order")
        if pp.view >= vc.new_view:
            raise CircleError("malformed", f"{what}: a certificate from view {pp.view}")
        check_prepared(cert, what)
        last = pp.seq


def check_new_view(nv: NewView) -> None:
    what = "NEW-VIEW"
    _distinct([v.signer for v in nv.view_changes], what)
    for vc in nv.view_changes:
        if vc.new_view != nv.new_view:
            raise CircleError("malformed", f"{what}: a view change to another view")
    last = -1
    for pp in nv.pre_prepares:
        if pp.view != nv.new_view or pp.signer != nv.signer:
            raise CircleError("malformed", f"{what}: a pre-prepare of another view or primary")
        if last >= 0 and pp.seq != last + 1:
            raise CircleError("malformed", f"{what}: pre-prepares not consecutive")
        last = pp.seq


def check_state_reply(reply: StateReply) -> None:
    what = "STATE-REPLY"
    circle = reply.circle_id
    if reply.state is not None:
        state = reply.state
        if state.circle_id != circle:
            raise CircleError("wrong_circle", f"{what}: a state of another circle")
        check_checkpoint_proof(reply.proof, state.seq, state.digest, what)
        last = 0
        for link in reply.links:
            if link.seq <= last or link.seq > state.seq:
                raise CircleError("malformed", f"{what}: config links out of order")
            if list(link.members) != sorted(set(link.members)) or not link.members:
                raise CircleError("malformed", f"{what}: link members not sorted and unique")
            members_hash = sha256(b"".join(link.members))
            digest = state_digest(circle, link.seq, members_hash, link.body_hash)
            check_checkpoint_proof(link.proof, link.seq, digest, what + " link")
            last = link.seq
    elif reply.links or reply.proof:
        raise CircleError("malformed", f"{what}: links without a state")
    last = reply.state.seq if reply.state is not None else -1
    for cert in reply.certs:
        if not cert.commits:
            raise CircleError("malformed", f"{what}: a commit certificate without commits")
        head = cert.commits[0]
        for c in cert.commits:
            if (c.view, c.seq, c.digest) != (head.view, head.seq, head.digest):
                raise CircleError("malformed", f"{what}: commits that do not match")
        _distinct([c.signer for c in cert.commits], what + " commits")
        if cert.request is None and head.digest != NULL_DIGEST:
            raise CircleError("malformed", f"{what}: no request for a non-null digest")
        if cert.request is not None and cert.request.digest != head.digest:
            raise CircleError("malformed", f"{what}: the request does not match the commits")
        if last >= 0 and head.seq != last + 1:
            raise CircleError("malformed", f"{what}: commit certificates not consecutive")
        last = head.seq


# --- equivocation evidence -----------------------------------------------------------


def equivocation_evidence(
    circle_id: bytes,
    primary: bytes,
    view: int,
    seq: int,
    a: tuple[bytes, bytes],
    b: tuple[bytes, bytes],
) -> bytes:
    """Two signed PRE-PREPARE headers of ``primary`` for (view, seq): (digest, signature)
    each. Layout: ``header_1 || sig_1 || header_2 || sig_2`` (112 + 64 bytes each)."""
    out = b""
    for digest, sig in sorted((a, b)):
        out += pre_prepare_header(circle_id, primary, view, seq, digest) + sig
    return out


def check_equivocation(evidence: bytes) -> tuple[bytes, bytes, int, int]:
    """(circle id, primary, view, seq) if ``evidence`` proves an equivocation; else
    CircleError."""
    size = _HEAD + 48 + SIG_BYTES
    if len(evidence) != 2 * size:
        raise CircleError("malformed", f"evidence of {len(evidence)} bytes")
    found = [_evidence_header(evidence[:size]), _evidence_header(evidence[size:])]
    a, b = found
    if (a.circle_id, a.signer, a.view, a.seq) != (b.circle_id, b.signer, b.view, b.seq):
        raise CircleError("malformed", "evidence: two different slots")
    if a.digest == b.digest:
        raise CircleError("malformed", "evidence: the same digest twice")
    return a.circle_id, a.signer, a.view, a.seq


def _evidence_header(part: bytes) -> PrePrepare:
    r = Reader(part, "evidence")
    if r.u8("version") != VERSION or r.u8("type") != MsgType.PRE_PREPARE:
        raise CircleError("malformed", "evidence: not a PRE-PREPARE header")
    circle_id, signer = r.take(ID_BYTES, "circle id"), r.take(KEY_BYTES, "signer")
    view, seq, digest = r.u64("view"), r.u64("seq"), r.take(32, "digest")
    sig = r.take(SIG_BYTES, "signature")
    r.end()
    if not pre_prepare_signed(circle_id, signer, view, seq, digest, sig):
        raise CircleError("bad_signature", "evidence: PRE-PREPARE header")
    return PrePrepare(circle_id, signer, view, seq, digest, None, sig, part)
