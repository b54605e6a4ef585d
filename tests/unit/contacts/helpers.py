"""Keys and invites shared by the contacts tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.config.schema import Level
from gateway.contacts.book import ContactBook
from gateway.contacts.invite import Invite, new_invite
from gateway.state.keys import IdentityKeys
from gateway.state.onion_key import OnionKey

NOW = 1_700_000_000
DAY = 86_400


@dataclass(frozen=True)
class Node:
    """One node's keys and its contact book."""

    keys: IdentityKeys
    onion: OnionKey
    book: ContactBook

    @property
    def identity(self) -> bytes:
        return self.keys.signing_public

    @property
    def address(self) -> str:
        return self.onion.address

    def invite(self, **kwargs: object) -> Invite:
        args: dict[str, object] = {"now": NOW, "ttl": DAY}
        args.update(kwargs)
        return self.book.make_invite(
            self.keys.signing,
            self.onion.public_key,
            self.keys.static_public,
            **args,  # type: ignore[arg-type]
        )


def make_node(folder: Path, name: str) -> Node:
    keys = IdentityKeys.generate()
    folder.mkdir(parents=True, exist_ok=True)
    book = ContactBook.open(folder / f"{name}.db", keys.signing_public)
    return Node(keys, OnionKey.generate(), book)


def sample_invite(
    *,
    level: Level = Level.PARANOID,
    nickname: str | None = "alice",
    auth: bytes | None = b"\x07" * 32,
    expires: int = NOW + DAY,
    keys: IdentityKeys | None = None,
) -> tuple[IdentityKeys, Invite]:
    keys = keys or IdentityKeys.generate()
    invite = new_invite(
        keys.signing,
        OnionKey.generate().public_key,
        keys.static_public,
        expires=expires,
        level=level,
        post_quantum=level is Level.PARANOID,
        nickname=nickname,
        client_auth_private=auth,
    )
    return keys, invite
