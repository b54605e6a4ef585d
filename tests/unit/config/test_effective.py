"""``gateway config show`` / ``GET /api/v1/config``: the effective settings as data."""

from __future__ import annotations

from pathlib import Path

from gateway.config.effective import dump_effective, flatten
from gateway.config.loader import load_config_text

FILE = Path("/etc/gateway/node.yaml")


def memory_lines(text: str) -> dict[str, object]:
    data = dump_effective(load_config_text(text, FILE))
    return {k: v for k, v in flatten(data) if k.startswith("memory.spaces")}


def test_the_default_space_is_shown_shared_with_everyone() -> None:
    """Without a memory section the default space is shared with all contacts: say so
    (it printed ``memory.spaces = []``, which reads as 'shared with nobody')."""
    assert memory_lines("node: {}\n") == {"memory.spaces.default": "all"}


def test_configured_spaces_are_shown_as_the_yaml_writes_them() -> None:
    text = "memory:\n  spaces:\n    family: [bob, carol]\n    work: all\n    solo: []\n"
    assert memory_lines(text) == {
        "memory.spaces.default": "all",
        "memory.spaces.family": ["bob", "carol"],
        "memory.spaces.work": "all",
        "memory.spaces.solo": [],
    }


def test_a_redefined_default_space_replaces_the_implicit_one() -> None:
    text = "memory:\n  spaces:\n    default: [bob]\n"
    assert memory_lines(text) == {"memory.spaces.default": ["bob"]}
