"""Configured memory spaces resolved through the contact book into the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.schema import MemoryConfig, SpaceConfig
from gateway.memory.spaces import Space
from gateway.memory.store import MemoryStore
from gateway.node.memspaces import apply_spaces, desired_spaces
from tests.unit.contacts.helpers import NOW, Node, make_node


@pytest.fixture
def me(tmp_path: Path) -> Node:
    """A node with two contacts: bob and carol."""
    node = make_node(tmp_path, "me")
    for name in ("bob", "carol"):
        other = make_node(tmp_path, name)
        node.book.add_contact(other.invite().text, NOW + 10, nickname=name)
    return node


def ident(node: Node, name: str) -> bytes:
    return node.book.find(name).identity


def cfg(*spaces: SpaceConfig) -> MemoryConfig:
    return MemoryConfig(spaces=spaces)


def test_default_is_shared_with_everyone(me: Node) -> None:
    assert desired_spaces(cfg(), me.book) == {"default": Space("default", True)}


def test_members_by_nickname_and_by_id(me: Node) -> None:
    carol_hex = ident(me, "carol").hex()
    wanted = desired_spaces(
        cfg(SpaceConfig("work", ("bob", carol_hex[:12])), SpaceConfig("club", None)), me.book
    )
    assert wanted["work"] == Space("work", False, frozenset({ident(me, "bob"), ident(me, "carol")}))
    assert wanted["club"] == Space("club", True)
    assert wanted["default"].all_contacts


def test_unknown_members_are_left_out(me: Node) -> None:
    wanted = desired_spaces(cfg(SpaceConfig("work", ("bob", "mallory", "ab" * 32))), me.book)
    assert wanted["work"].members == frozenset({ident(me, "bob")})


def test_default_can_be_redefined(me: Node) -> None:
    wanted = desired_spaces(cfg(SpaceConfig("default", ("bob",))), me.book)
    assert wanted["default"] == Space("default", False, frozenset({ident(me, "bob")}))


def test_apply_creates_updates_and_is_idempotent(me: Node, tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "memory.db")
    first = cfg(SpaceConfig("work", ("bob",)))
    assert apply_spaces(first, me.book, store) is True
    assert store.space("work") == Space("work", False, frozenset({ident(me, "bob")}))
    assert apply_spaces(first, me.book, store) is False
    second = cfg(SpaceConfig("work", ("bob", "carol")))
    assert apply_spaces(second, me.book, store) is True
    work = store.space("work")
    assert work is not None and work.members == {ident(me, "bob"), ident(me, "carol")}


def test_space_dropped_from_config_is_kept_but_private(me: Node, tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "memory.db")
    apply_spaces(cfg(SpaceConfig("work", None)), me.book, store)
    assert apply_spaces(cfg(), me.book, store) is True
    assert store.space("work") == Space("work", False)
    assert store.spaces_for_peer(ident(me, "bob")) == ["default"]
    assert apply_spaces(cfg(), me.book, store) is False


def test_contact_added_later_joins_on_the_next_apply(me: Node, tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "memory.db")
    spaces = cfg(SpaceConfig("work", ("dave",)))
    apply_spaces(spaces, me.book, store)
    assert store.space("work") == Space("work", False)
    dave = make_node(tmp_path, "dave")
    me.book.add_contact(dave.invite().text, NOW + 10, nickname="dave")
    assert apply_spaces(spaces, me.book, store) is True
    assert store.spaces_for_peer(dave.identity) == ["default", "work"]
