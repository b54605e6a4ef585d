"""config/example.yaml documents every key, and it and what ``gateway init`` writes both load."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.config.loader import TOP_LEVEL_KEYS, load_config
from gateway.config.schema import GatewayConfig

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "example.yaml"
#: sections whose YAML keys are the config dataclass's fields, one for one
SECTIONS = ("node", "tor", "onion", "http", "api", "logging", "memory", "ai")


def test_the_example_loads_and_names_every_key() -> None:
    cfg = load_config(EXAMPLE)
    raw = yaml.safe_load(EXAMPLE.read_text())
    assert set(raw) == set(TOP_LEVEL_KEYS)
    for section in SECTIONS:
        want = {f.name for f in fields(getattr(cfg, section))}
        if section == "onion":
            want = {"virtual_port"}
        assert want <= set(raw[section]), (section, want - set(raw[section]))
    kinds = {a["kind"] for a in raw["ai"]["adapters"]}
    assert kinds == {"openai", "command", "scripted"}
    assert "11434" in raw["ai"]["adapters"][0]["base_url"]  # the Ollama example


def test_init_writes_an_ai_and_a_memory_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "node.yaml"
    assert main(["--config", str(config), "init", "--state-dir", str(tmp_path / "st")]) == 0
    raw = yaml.safe_load(config.read_text())
    assert {"ai", "memory"} <= set(raw)
    cfg: GatewayConfig = load_config(config)
    assert cfg.ai.adapters == () and not cfg.ai.answerer.enabled
    assert "11434" in config.read_text()  # the commented Ollama line
