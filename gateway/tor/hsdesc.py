"""Matching ``HS_DESC`` events to our onion service's publication (sans-I/O).

tor emits ``HS_DESC UPLOAD`` when it starts sending a descriptor to an HSDir,
then ``HS_DESC UPLOADED`` or ``HS_DESC FAILED`` for each HSDir. The service is
published (reachable by clients) once one upload of our address succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.errors import PublishError

ONION_SUFFIX = ".onion"


@dataclass(frozen=True)
class HsDescEvent:
    """The fields of an ``HS_DESC`` event that publication cares about."""

    action: str
    address: str
    directory: str = ""
    reason: str | None = None


def normalize_address(address: str) -> str:
    """An onion address in lower case without the ``.onion`` suffix."""
    address = address.strip().lower()
    if address.endswith(ONION_SUFFIX):
        address = address[: -len(ONION_SUFFIX)]
    return address


def is_upload_of(event: HsDescEvent, address: str) -> bool:
    """Whether ``event`` reports a successful upload of ``address``'s descriptor."""
    return event.action.upper() == "UPLOADED" and normalize_address(
        event.address
    ) == normalize_address(address)


@dataclass
class PublicationTracker:
    """Follows the ``HS_DESC`` events of one address until an upload succeeds."""

    address: str
    uploads_started: int = 0
    failures: list[str] = field(default_factory=list)
    published: bool = False

    def feed(self, event: HsDescEvent) -> bool:
        """Record an event; return whether the service is now published."""
        if normalize_address(event.address) != normalize_address(self.address):
            return self.published
        action = event.action.upper()
        if action == "UPLOAD":
            self.uploads_started += 1
        elif action == "FAILED":
            self.failures.append(f"{event.directory or '?'}: {event.reason or 'unknown reason'}")
        elif action == "UPLOADED":
            self.published = True
        return self.published

    def error(self, timeout: float) -> PublishError:
        """A :class:`PublishError` saying how far publication got."""
        msg = (
            f"onion service not published within {timeout:g} s "
            f"({self.uploads_started} uploads started, {len(self.failures)} failed)"
        )
        if self.failures:
            msg += "; failures: " + " | ".join(self.failures[-5:])
        return PublishError(msg)
