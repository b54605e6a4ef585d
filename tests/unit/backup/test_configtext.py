"""Pointing a restored config at its new state directory, comments kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.backup.configtext import with_state_dir
from gateway.config.loader import load_config_text
from gateway.config.schema import Level
from gateway.config.template import render_config_yaml
from gateway.errors import ConfigError


def _state_dir(text: str, config: Path) -> Path:
    return load_config_text(text, config).node.state_dir


def test_init_config_keeps_its_comments(tmp_path: Path) -> None:
    text = render_config_yaml(name="a", level=Level.HIGH, state_dir="state/a", testnet=None)
    config = tmp_path / "conf" / "node.yaml"
    inside = tmp_path / "conf" / "restored"
    new = with_state_dir(text, config, inside)
    assert _state_dir(new, config) == inside
    assert 'state_dir: "restored"' in new
    assert [ln for ln in new.splitlines() if "state_dir" not in ln] == [
        ln for ln in text.splitlines() if "state_dir" not in ln
    ]
    outside = tmp_path / "elsewhere" / "st"
    assert _state_dir(with_state_dir(text, config, outside), config) == outside
    assert f'"{outside}"' in with_state_dir(text, config, outside)


@pytest.mark.parametrize(
    "text",
    ["node:\n  name: a\n# trailing\n", "node: {name: a}\n", "tor: {}\n", "node:\n  name: a\n"
     "  state_dir: 'quoted # not a comment'  # a comment\n"],
)  # fmt: skip
def test_missing_flow_and_quoted_state_dirs(tmp_path: Path, text: str) -> None:
    config = tmp_path / "node.yaml"
    target = tmp_path / "a dir with: colon"
    new = with_state_dir(text, config, target)
    assert _state_dir(new, config) == target


def test_not_a_mapping_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        with_state_dir("- a\n", tmp_path / "c.yaml", tmp_path)
    with pytest.raises(ConfigError):
        with_state_dir("node: [1]\n", tmp_path / "c.yaml", tmp_path)
    with pytest.raises(ConfigError):
        with_state_dir("node: {\n", tmp_path / "c.yaml", tmp_path)
