"""The ``ai:`` section of the node config: loaded into GatewayConfig, errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.converge.adapters.config import AIConfig, ScriptedAdapterConfig
from gateway.converge.adapters.scripted import ScriptedFault
from gateway.errors import ConfigError
from tests.unit.config.support import run_cli, write_config

GOOD = """\
node: {name: alice}
ai:
  adapters:
    - {name: local, kind: scripted, accuracy: 0.5, fault: garbage}
  answerer: {rate_limit: {concurrent: 2}}
"""


def test_the_ai_section_loads(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, GOOD))
    assert cfg.ai.default == "local"
    assert cfg.ai.adapters == (
        ScriptedAdapterConfig("local", accuracy=0.5, fault=ScriptedFault.GARBAGE),
    )
    assert cfg.ai.answerer.rate_limit.concurrent == 2


def test_no_ai_section_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, "node: {}\n")).ai == AIConfig()


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("ai: [1]", "ai"),
        ("ai: {adapters: [{name: x, kind: telepathy}]}", "ai.adapters[0].kind"),
        ("ai: {adapters: [{name: x, kind: scripted}, {name: y, kind: scripted, accuracy: 2}]}",
         "ai.adapters[1].accuracy"),
        ("ai: {adapters: [{name: x, kind: openai, base_url: 'http://h', model: m, api_key: k}]}",
         "ai.adapters[0].api_key"),
        ("ai: {answerer: {rate_limit: {concurrent: 0}}}", "ai.answerer.rate_limit.concurrent"),
        ("ai: {default: nobody}", "ai.default"),
        ("ai: {colour: red}", "ai.colour"),
    ],
)  # fmt: skip
def test_a_bad_ai_section_names_the_key(tmp_path: Path, section: str, key: str) -> None:
    path = write_config(tmp_path, f"node: {{}}\n{section}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key_path == key
    assert key in str(info.value) and str(path) in str(info.value)


def test_the_cli_exits_2_on_a_bad_ai_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, "node: {}\nai: {adapters: [{name: x, kind: telepathy}]}\n")
    status, out, err = run_cli(capsys, "--config", str(path), "config", "show")
    assert status == 2 and out == ""
    assert "ai.adapters[0].kind" in err
