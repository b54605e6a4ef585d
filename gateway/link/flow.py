"""Credit-based flow control of one channel direction, in messages and in body bytes.

Sans-I/O. Each direction of a channel starts with :data:`INITIAL_WINDOW` of
credit (a protocol constant, so a sender may send at once, pipelined behind its
CHANNEL_OPEN). Every DATA message uses one message and ``len(body)`` bytes of
credit. The receiver returns credit with CREDIT messages as its handler consumes
what arrived: once half a window has been consumed, it grants what was consumed.
A sender with too little credit queues; a DATA beyond the credit the receiver
granted is a flow violation (refused, not delivered).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import LinkError
from gateway.link.messages import MAX_BODY

#: most credit one side may hold (fits the u32 fields of CREDIT)
MAX_CREDIT = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Window:
    """An amount of credit: messages and body bytes."""

    messages: int
    nbytes: int

    def fits(self, size: int) -> bool:
        """Whether one message with a body of ``size`` bytes fits."""
        return self.messages >= 1 and self.nbytes >= size


#: credit each channel direction starts with (both sides assume it; protocol constant)
INITIAL_WINDOW = Window(messages=64, nbytes=2 * MAX_BODY)


class SendCredit:
    """The credit a sender holds for one channel."""

    def __init__(self, initial: Window = INITIAL_WINDOW) -> None:
        self._messages = initial.messages
        self._bytes = initial.nbytes

    @property
    def available(self) -> Window:
        """Credit left."""
        return Window(self._messages, self._bytes)

    def can_send(self, size: int) -> bool:
        """Whether a body of ``size`` bytes may be sent now."""
        return self.available.fits(size)

    def take(self, size: int) -> None:
        """Use the credit of one message of ``size`` bytes."""
        if not self.can_send(size):
            raise LinkError(f"no credit for a message of {size} bytes")
        self._messages -= 1
        self._bytes -= size

    def grant(self, messages: int, nbytes: int) -> bool:
        """Add credit from a CREDIT message; ``False`` (and no change) if it would overflow."""
        if self._messages + messages > MAX_CREDIT or self._bytes + nbytes > MAX_CREDIT:
            return False
        self._messages += messages
        self._bytes += nbytes
        return True


class ReceiveWindow:
    """What a receiver allows on one channel and the credit it owes back."""

    def __init__(self, window: Window = INITIAL_WINDOW) -> None:
        self.window = window
        self._messages = window.messages
        self._bytes = window.nbytes
        self._consumed_messages = 0
        self._consumed_bytes = 0
        self._unconsumed = 0

    @property
    def remaining(self) -> Window:
        """Credit the peer still holds, as far as this side knows."""
        return Window(self._messages, self._bytes)

    def accept(self, size: int) -> bool:
        """Count an arriving message; ``False`` (and no change) if it exceeds the credit."""
        if not self.remaining.fits(size):
            return False
        self._messages -= 1
        self._bytes -= size
        self._unconsumed += 1
        return True

    def consumed(self, size: int) -> Window | None:
        """The handler finished a message of ``size`` bytes; the credit to grant, if due."""
        if self._unconsumed == 0:
            raise LinkError("consumed() called for more messages than were accepted")
        self._unconsumed -= 1
        self._consumed_messages += 1
        self._consumed_bytes += size
        due = (
            self._consumed_messages * 2 >= self.window.messages
            or self._consumed_bytes * 2 >= self.window.nbytes
        )
        if not due:
            return None
        grant = Window(self._consumed_messages, self._consumed_bytes)
        self._messages += grant.messages
        self._bytes += grant.nbytes
        self._consumed_messages = self._consumed_bytes = 0
        return grant
