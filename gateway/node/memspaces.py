"""The configured memory spaces, resolved against the contact book into the store."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gateway.config.schema import MemoryConfig
from gateway.contacts.book import ContactBook
from gateway.errors import ContactError
from gateway.memory.spaces import DEFAULT_SPACE, Space
from gateway.memory.store import MemoryStore

log = logging.getLogger("gateway.memory")


def desired_spaces(cfg: MemoryConfig, book: ContactBook) -> dict[str, Space]:
    """Every configured space with its members' identity keys (unknown members left out).

    ``default`` is shared with every contact unless the config redefines it.
    """
    out = {DEFAULT_SPACE: Space(DEFAULT_SPACE, True)}
    for space in cfg.spaces:
        if space.members is None:
            out[space.name] = Space(space.name, True)
            continue
        members = set()
        for name in space.members:
            try:
                members.add(book.find(name).identity)
            except ContactError:
                log.debug("space %s: member %r is not a contact (yet)", space.name, name)
        out[space.name] = Space(space.name, False, frozenset(members))
    return out


def apply_spaces(
    cfg: MemoryConfig,
    book: ContactBook,
    store: MemoryStore,
    governed: Mapping[str, Space] | None = None,
) -> bool:
    """Bring the store's spaces in line with the config; whether anything changed.

    A space the config no longer names is kept (its entries stay) but shared with nobody.
    ``governed`` spaces (set by a circle's decisions, see gateway/node/circles.py) win over
    the config.
    """
    wanted = desired_spaces(cfg, book) | dict(governed or {})
    changed = False
    for space in store.spaces():
        if space.name not in wanted and (space.all_contacts or space.members):
            store.set_space(Space(space.name, False))
            changed = True
    for space in wanted.values():
        if store.space(space.name) != space:
            store.set_space(space)
            changed = True
    return changed
