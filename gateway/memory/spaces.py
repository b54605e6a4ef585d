"""Spaces: which contacts share which memories."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_SPACE = "default"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_space_name(name: str) -> None:
    """Raise ValueError unless ``name`` is 1-64 chars of [a-z0-9._-] starting alphanumeric."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"bad space name {name!r}: want 1-64 chars of [a-z0-9._-]")


@dataclass(frozen=True)
class Space:
    """A space: shared with every contact (``all_contacts``) or with listed members."""

    name: str
    all_contacts: bool
    members: frozenset[bytes] = frozenset()

    def includes(self, peer: bytes) -> bool:
        """Whether ``peer`` (a contact's public key) shares this space."""
        return self.all_contacts or peer in self.members
