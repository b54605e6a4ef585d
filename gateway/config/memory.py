"""The ``memory:`` section: spaces (who shares which memories), sync, search and context."""

from __future__ import annotations

import re
import unicodedata

from gateway.config.fields import Section, type_name
from gateway.config.schema import MemoryConfig, SpaceConfig

_SPACE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
#: a contact's nickname is at most 32 UTF-8 bytes; an identity key is 64 hex digits
MAX_MEMBER = 64
EVERYONE = "all"
MAX_SPACES = 64


def build_memory(section: Section, *, paranoid: bool = False) -> MemoryConfig:
    """Read ``memory.spaces`` (name -> ``all`` or a list of contacts), ``sync_interval``,
    ``semantic``, ``council_context`` (default off at PARANOID) and ``context_entries``."""
    section.check_keys(
        ("spaces", "sync_interval", "semantic", "council_context", "context_entries")
    )
    spaces = section.sub("spaces")
    if len(spaces.data) > MAX_SPACES:
        raise section.error("spaces", f"at most {MAX_SPACES} spaces", len(spaces.data))
    return MemoryConfig(
        spaces=tuple(_space(spaces, name) for name in spaces.data),
        sync_interval=section.number("sync_interval", 60.0, 1.0, 86_400.0),
        semantic=section.boolean("semantic", True),
        council_context=section.boolean("council_context", not paranoid),
        context_entries=section.integer("context_entries", 5, 1, 20),
    )


def _space(spaces: Section, name: str) -> SpaceConfig:
    if not _SPACE.fullmatch(name):
        raise spaces.error(name, "a space name: 1-64 of [a-z0-9._-], starting alphanumeric")
    value = spaces.data[name]
    if value == EVERYONE:
        return SpaceConfig(name, None)
    expected = f"'{EVERYONE}' or a list of contacts (nicknames or identity keys)"
    if not isinstance(value, list):
        raise spaces.error(name, expected, type_name(value))
    for i, member in enumerate(value):
        if not _is_member(member):
            raise spaces.error(f"{name}[{i}]", "a contact nickname or identity key", member)
    return SpaceConfig(name, tuple(value))


def _is_member(value: object) -> bool:
    """A contact nickname or (a prefix of) an identity key: printable, no edge spaces."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_MEMBER or value != value.strip():
        return False
    return not any(unicodedata.category(c).startswith("C") for c in value)
