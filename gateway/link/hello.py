"""HELLO and HELLO_ACK: the first exchange of a link, after the handshake (sans-I/O).

Both travel as CONTROL frames of the session the connection's handshake just
made (the *fresh* session). They decide whether the link resumes the contact's
stored session or adopts the fresh one, and carry the pairing secret of an
invite. Layouts (integers big-endian)::

    HELLO     = u8 version | u8 0x01 | resume id (32; zeros: none)
                | u64 next_send_seq | u64 max_recv_seq
                | u8 n | pairing secret (n; 0: none) | u8 m | client-auth key (m: 0 or 32)
                | u8 k | onion address (k: 0, or 56 ascii when pairing)
    HELLO_ACK = u8 version | u8 0x02 | u8 decision (0 new, 1 resume)
                | u64 next_send_seq | u64 max_recv_seq

``next_send_seq`` is the sequence number the sender will give its next payload
in the stored session, ``max_recv_seq`` the highest it has received there.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from gateway.errors import FrameError, VersionError

HELLO_VERSION = 1
TYPE_HELLO = 0x01
TYPE_ACK = 0x02
NO_SESSION = bytes(32)
_SEQS = struct.Struct("!QQ")


class Decision(enum.IntEnum):
    NEW = 0
    RESUME = 1


@dataclass(frozen=True)
class Hello:
    resume_id: bytes
    next_send_seq: int
    max_recv_seq: int
    pairing_secret: bytes = b""
    client_auth: bytes = b""
    onion: str = ""

    def encode(self) -> bytes:
        if len(self.resume_id) != 32 or len(self.client_auth) not in (0, 32):
            raise FrameError("bad HELLO field sizes")
        onion = self.onion.encode("ascii")
        if len(onion) not in (0, 56):
            raise FrameError("bad HELLO onion address")
        if len(self.pairing_secret) > 255:
            raise FrameError("pairing secret too long")
        return (
            bytes([HELLO_VERSION, TYPE_HELLO])
            + self.resume_id
            + _SEQS.pack(self.next_send_seq, self.max_recv_seq)
            + bytes([len(self.pairing_secret)])
            + self.pairing_secret
            + bytes([len(self.client_auth)])
            + self.client_auth
            + bytes([len(onion)])
            + onion
        )


@dataclass(frozen=True)
class HelloAck:
    decision: Decision
    next_send_seq: int
    max_recv_seq: int

    def encode(self) -> bytes:
        return bytes([HELLO_VERSION, TYPE_ACK, self.decision]) + _SEQS.pack(
            self.next_send_seq, self.max_recv_seq
        )


def _header(data: bytes, kind: int) -> None:
    if len(data) < 2:
        raise FrameError("link control message too short")
    if data[0] != HELLO_VERSION:
        raise VersionError(f"unsupported link control version {data[0]}")
    if data[1] != kind:
        raise FrameError(f"expected link control message {kind}, got {data[1]}")


def decode_hello(data: bytes) -> Hello:
    _header(data, TYPE_HELLO)
    try:
        pos = 2
        resume_id = data[pos : pos + 32]
        pos += 32
        send, recv = _SEQS.unpack_from(data, pos)
        pos += _SEQS.size
        n = data[pos]
        secret = data[pos + 1 : pos + 1 + n]
        pos += 1 + n
        m = data[pos]
        auth = data[pos + 1 : pos + 1 + m]
        pos += 1 + m
        k = data[pos]
        onion = data[pos + 1 : pos + 1 + k]
        pos += 1 + k
    except (IndexError, struct.error) as exc:
        raise FrameError("truncated HELLO") from exc
    if len(resume_id) != 32 or len(secret) != n or len(auth) != m or m not in (0, 32):
        raise FrameError("malformed HELLO")
    if len(onion) != k or k not in (0, 56) or not onion.isascii():
        raise FrameError("malformed HELLO onion address")
    if pos != len(data):
        raise FrameError("trailing bytes after HELLO")
    return Hello(resume_id, send, recv, secret, auth, onion.decode("ascii"))


def decode_ack(data: bytes) -> HelloAck:
    _header(data, TYPE_ACK)
    if len(data) != 3 + _SEQS.size:
        raise FrameError("malformed HELLO_ACK")
    if data[2] not in (Decision.NEW, Decision.RESUME):
        raise FrameError(f"unknown HELLO_ACK decision {data[2]}")
    send, recv = _SEQS.unpack_from(data, 3)
    return HelloAck(Decision(data[2]), send, recv)


def may_resume(
    *,
    peer_next_send: int,
    peer_max_recv: int,
    own_next_send: int,
    own_max_recv: int,
) -> bool:
    """Whether both sides' stored copies of a session are current.

    A side restored from an old copy would number its next payload at or below
    what the other side already received from it: resuming would reuse its
    message keys. Then both sides adopt the fresh session instead.
    """
    return peer_next_send > own_max_recv and own_next_send > peer_max_recv
