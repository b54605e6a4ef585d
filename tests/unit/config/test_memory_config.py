"""The ``memory:`` section: spaces and the sync interval, good and bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.loader import load_config, load_config_text
from gateway.config.schema import MemoryConfig, SpaceConfig
from gateway.errors import ConfigError
from tests.unit.config.support import write_config

FILE = Path("/etc/gateway/node.yaml")


def memory(text: str) -> MemoryConfig:
    return load_config_text(text, FILE).memory


def test_defaults_without_a_section() -> None:
    assert memory("node: {}\n") == MemoryConfig(spaces=(), sync_interval=60.0)
    assert memory("memory:\n") == MemoryConfig()
    assert memory("memory: {spaces: {}}\n") == MemoryConfig()


def test_spaces_in_file_order() -> None:
    cfg = memory(
        "memory:\n"
        "  sync_interval: 15\n"
        "  spaces:\n"
        "    work: [bob, 'Carol Smith', " + "ab" * 32 + "]\n"
        "    club: all\n"
        "    default: [bob]\n"
    )
    assert cfg.sync_interval == 15.0
    assert cfg.spaces == (
        SpaceConfig("work", ("bob", "Carol Smith", "ab" * 32)),
        SpaceConfig("club", None),
        SpaceConfig("default", ("bob",)),
    )


def test_empty_member_list_shares_with_nobody() -> None:
    assert memory("memory: {spaces: {solo: []}}\n").spaces == (SpaceConfig("solo", ()),)


def test_many_spaces_up_to_the_limit() -> None:
    names = ", ".join(f"s{i}: all" for i in range(64))
    assert len(memory(f"memory: {{spaces: {{{names}}}}}\n").spaces) == 64


BAD: list[tuple[str, str, str]] = [
    ("memory: [spaces]\n", "memory", "a mapping"),
    ("memory: {space: {}}\n", "memory.space", "one of the known keys: spaces, sync_interval"),
    ("memory: {spaces: [work]}\n", "memory.spaces", "a mapping"),
    ("memory: {spaces: {Work: all}}\n", "memory.spaces.Work", "a space name: 1-64 of [a-z0-9._-]"),
    ("memory: {spaces: {-x: all}}\n", "memory.spaces.-x", "a space name"),
    ("memory: {spaces: {" + "a" * 65 + ": all}}\n", "memory.spaces." + "a" * 65, "a space name"),
    ("memory: {spaces: {work: everyone}}\n", "memory.spaces.work", "'all' or a list of contacts"),
    ("memory: {spaces: {work: bob}}\n", "memory.spaces.work", "'all' or a list of contacts"),
    ("memory: {spaces: {work: {bob: 1}}}\n", "memory.spaces.work", "'all' or a list"),
    ("memory: {spaces: {work: }}\n", "memory.spaces.work", "'all' or a list"),
    ("memory: {spaces: {work: [bob, 7]}}\n", "memory.spaces.work[1]", "a contact nickname"),
    ("memory: {spaces: {work: [bob, '']}}\n", "memory.spaces.work[1]", "a contact nickname"),
    ("memory: {spaces: {work: [' bob']}}\n", "memory.spaces.work[0]", "a contact nickname"),
    ('memory: {spaces: {work: ["a\\tb"]}}\n', "memory.spaces.work[0]", "a contact nickname"),
    ("memory: {spaces: {work: [[bob]]}}\n", "memory.spaces.work[0]", "a contact nickname"),
    ("memory: {spaces: {work: [" + "b" * 65 + "]}}\n", "memory.spaces.work[0]", "a contact"),
    ("memory: {sync_interval: 0}\n", "memory.sync_interval", "a number of seconds"),
    ("memory: {sync_interval: 1}\n", "memory.sync_interval", "more than 1"),
    ("memory: {sync_interval: 86401}\n", "memory.sync_interval", "at most 86400"),
    ("memory: {sync_interval: soon}\n", "memory.sync_interval", "a number of seconds"),
    ("memory: {sync_interval: yes}\n", "memory.sync_interval", "a number of seconds"),
]


@pytest.mark.parametrize(("text", "key", "expected"), BAD)
def test_bad_sections(text: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        memory(text)
    assert err.value.file == str(FILE)
    assert err.value.key_path == key
    assert expected in err.value.expected
    assert str(err.value).startswith(f"{FILE}: {key}: expected ")


def test_too_many_spaces() -> None:
    names = ", ".join(f"s{i}: all" for i in range(65))
    with pytest.raises(ConfigError) as err:
        memory(f"memory: {{spaces: {{{names}}}}}\n")
    assert err.value.key_path == "memory.spaces" and "at most 64 spaces" in err.value.expected


def test_error_names_the_file_it_was_read_from(tmp_path: Path) -> None:
    path = write_config(tmp_path, "memory:\n  spaces:\n    work: [bob, 3]\n")
    with pytest.raises(
        ConfigError, match=r"node\.yaml: memory\.spaces\.work\[1\]: expected"
    ) as err:
        load_config(path)
    assert err.value.file == str(path.absolute())
    assert err.value.got == 3
