"""A node's contact book and client-authorization folders in its state directory.

``<state>/node.db`` holds the book; ``<state>/hs/authorized_clients/`` the
``.auth`` files of clients we authorize (read by tor when the onion service is
provisioned from the torrc); ``<state>/client_auth/`` the ``.auth_private``
files to reach contacts that require client authorization (tor's
ClientOnionAuthDir).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.contacts.book import Contact, ContactBook, Revocation
from gateway.contacts.client_auth import (
    authorized_clients_dir,
    remove_authorized_client,
    remove_client_auth_private,
    write_authorized_client,
    write_client_auth_private,
)
from gateway.state.keys import IdentityKeys
from gateway.state.paths import StatePaths


def client_auth_dir(paths: StatePaths) -> Path:
    """Where the ``.auth_private`` files live (tor's ClientOnionAuthDir)."""
    return paths.root / "client_auth"


def open_book(paths: StatePaths, keys: IdentityKeys) -> ContactBook:
    """The contact book in ``<state>/node.db`` (after checking the state directory)."""
    paths.check()
    return ContactBook.open(paths.db, keys.signing_public)


def authorize(paths: StatePaths, public_key: bytes) -> Path:
    """Write the ``.auth`` file that lets ``public_key`` reach our onion service."""
    return write_authorized_client(authorized_clients_dir(paths.hs_dir), public_key)


def install_contact_keys(paths: StatePaths, contact: Contact) -> list[Path]:
    """Write the client-auth files a contact needs: ours to reach them, theirs to reach us."""
    written = []
    if contact.auth_private is not None:
        folder = client_auth_dir(paths)
        written.append(
            write_client_auth_private(folder, contact.onion_address, contact.auth_private)
        )
    if contact.auth_public is not None:
        written.append(authorize(paths, contact.auth_public))
    return written


@dataclass(frozen=True)
class RevokeResult:
    """Which client-auth files were deleted."""

    auth_removed: bool
    auth_private_removed: bool


def apply_revocation(paths: StatePaths, revocation: Revocation) -> RevokeResult:
    """Delete the files a :class:`Revocation` names (missing files are fine)."""
    auth = priv = False
    if revocation.authorized_public is not None:
        folder = authorized_clients_dir(paths.hs_dir)
        auth = remove_authorized_client(folder, revocation.authorized_public)
    if revocation.client_auth_onion is not None:
        priv = remove_client_auth_private(client_auth_dir(paths), revocation.client_auth_onion)
    return RevokeResult(auth, priv)
