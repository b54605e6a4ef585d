"""A contact's stored session: the session blob plus the link's sequence numbers.

Layout (what the outbox's session-state column holds)::

    u8 version (1) | session id (32: the hash of the handshake that made it)
    | u64 next_send_seq | u64 max_recv_seq | session blob (rest)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from gateway.errors import SessionStateError, VersionError

STORED_VERSION = 1
_HEAD = struct.Struct("!B32sQQ")


@dataclass(frozen=True)
class StoredSession:
    session_id: bytes
    next_send_seq: int
    max_recv_seq: int
    blob: bytes

    def encode(self) -> bytes:
        head = _HEAD.pack(STORED_VERSION, self.session_id, self.next_send_seq, self.max_recv_seq)
        return head + self.blob

    def advanced(self, blob: bytes, *, sent: int = 0, received: int | None = None) -> StoredSession:
        """This record after ``sent`` more payloads and (if given) payload ``received`` arrived."""
        recv = self.max_recv_seq if received is None else max(self.max_recv_seq, received)
        return replace(self, blob=blob, next_send_seq=self.next_send_seq + sent, max_recv_seq=recv)


def decode_stored(data: bytes) -> StoredSession:
    if len(data) < _HEAD.size:
        raise SessionStateError("stored session record too short")
    version, session_id, send, recv = _HEAD.unpack_from(data)
    if version != STORED_VERSION:
        raise VersionError(f"unsupported stored session version {version}")
    return StoredSession(session_id, send, recv, data[_HEAD.size :])
