"""Who may open a link to this node: contacts, and peers presenting a valid invite secret."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.contacts.book import ContactBook, ContactState
from gateway.errors import InviteError

if TYPE_CHECKING:
    from gateway.link.hello import Hello

log = logging.getLogger("gateway.link")


class BookGatekeeper:
    """The responder's gatekeeper over the contact book (implements protocol.Gatekeeper)."""

    def __init__(
        self,
        book: ContactBook,
        *,
        clock: Callable[[], float] = time.time,
        on_paired: Callable[[bytes], None] | None = None,
    ) -> None:
        self.book = book
        self.clock = clock
        self.on_paired = on_paired

    def may_handshake(self, identity: bytes, static: bytes) -> bool:
        contact = self.book.get(identity)
        if contact is not None:
            return contact.static_key == static or contact.state is ContactState.PENDING
        now = int(self.clock())
        return any(i.used_at is None and i.expires > now for i in self.book.pending_invites())

    def admit(self, identity: bytes, static: bytes, hello: Hello) -> bool:
        contact = self.book.get(identity)
        if contact is not None and contact.state is ContactState.PAIRED:
            return contact.static_key == static
        if not hello.pairing_secret or not hello.onion:
            return False
        try:
            self.book.redeem(
                hello.pairing_secret,
                identity,
                static,
                hello.onion,
                int(self.clock()),
                client_auth_private=hello.client_auth or None,
            )
        except InviteError as exc:
            log.info("pairing refused: %s", exc.reason)
            return False
        if self.on_paired is not None:
            self.on_paired(identity)
        return True
