"""Contacts and invites as JSON: what the API answers and the CLI prints with ``--json``."""

from __future__ import annotations

import datetime

from gateway.contacts.book import Contact
from gateway.contacts.invite import Invite

#: how long an invite is valid unless asked otherwise, and the longest it may be (seconds)
DEFAULT_TTL = 24 * 3600
MAX_TTL = 30 * 24 * 3600


def utc(ts: int | None) -> str | None:
    """``ts`` (Unix seconds) as an ISO 8601 UTC time, or None."""
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def contact_json(contact: Contact) -> dict[str, object]:
    """A contact (no private keys or secrets)."""
    return {
        "id": contact.id,
        "nickname": contact.nickname,
        "state": contact.state.value,
        "onion": f"{contact.onion_address}.onion",
        "static_key": contact.static_key.hex(),
        "added_at": contact.added_at,
        "last_seen": contact.last_seen,
        "client_auth_to_reach": contact.auth_private is not None,
        "client_auth_authorized": contact.auth_public is not None,
    }


def invite_json(invite: Invite, label: str | None) -> dict[str, object]:
    """A new invite: its text and link (the secret: shown once, to whom it is for)."""
    return {
        "invite": invite.text,
        "link": invite.link,
        "expires": invite.expires,
        "expires_utc": utc(invite.expires),
        "label": label,
        "nickname": invite.nickname,
        "level": invite.level.value,
        "post_quantum": invite.post_quantum,
        "client_auth": invite.client_auth_private is not None,
        "onion": f"{invite.onion_address}.onion",
    }
