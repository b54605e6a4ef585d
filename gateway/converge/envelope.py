"""The ``converge`` link channel's envelope: which machine a message is for, and its round.

``direction u8 || round_id[32] || signed convergence message``: direction 0 goes to
a participant (from the round's asker), 1 goes to the asker (from a participant).
"""

from __future__ import annotations

from gateway.converge.round import ROUND_ID_BYTES
from gateway.errors import ConvergeMessageError

TO_PARTICIPANT = 0
TO_ASKER = 1
HEADER = 1 + ROUND_ID_BYTES


def wrap(direction: int, round_id: bytes, data: bytes) -> bytes:
    """One channel message."""
    if direction not in (TO_PARTICIPANT, TO_ASKER) or len(round_id) != ROUND_ID_BYTES:
        raise ConvergeMessageError("bad envelope direction or round id")
    return bytes([direction]) + round_id + data


def unwrap(body: bytes) -> tuple[int, bytes, bytes]:
    """(direction, round id, message); ConvergeMessageError when malformed."""
    if len(body) <= HEADER or body[0] not in (TO_PARTICIPANT, TO_ASKER):
        raise ConvergeMessageError(f"malformed converge envelope ({len(body)} bytes)")
    return body[0], body[1:HEADER], body[HEADER:]
