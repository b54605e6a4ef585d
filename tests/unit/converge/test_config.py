"""The typed AI config, its key-path errors, the factory, the rate limiter and the driver step."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from gateway.converge.adapters.command import CommandAdapter
from gateway.converge.adapters.config import (
    AIConfig,
    CommandAdapterConfig,
    OpenAIAdapterConfig,
    RateLimit,
    ScriptedAdapterConfig,
    parse_ai_config,
)
from gateway.converge.adapters.factory import build_adapter
from gateway.converge.adapters.openai import OpenAIAdapter
from gateway.converge.adapters.scripted import ScriptedAdapter, ScriptedFault
from gateway.converge.core import AITask, Send
from gateway.converge.driver import fulfil
from gateway.converge.messages import Kind, decode
from gateway.converge.participant import Participant
from gateway.converge.ratelimit import RateLimiter
from gateway.converge.round import new_round
from gateway.converge.simulate import derive_key
from gateway.errors import ConfigError, RoundError

GOOD: dict[str, Any] = {
    "adapters": [
        {
            "name": "local",
            "kind": "openai",
            "base_url": "http://127.0.0.1:11434/v1",
            "model": "llama3",
            "api_key_env": "OLLAMA_KEY",
            "timeout": 30,
            "max_output_bytes": 4096,
            "temperature": 0.2,
        },
        {"name": "cli", "kind": "command", "argv": ["ai", "--quiet"], "timeout": 5},
        {"name": "demo", "kind": "scripted", "accuracy": 0.7, "seed": 3, "fault": "garbage"},
    ],
    "default": "cli",
    "answerer": {
        "enabled": True,
        "adapter": "local",
        "rate_limit": {"requests": 5, "per_seconds": 60, "concurrent": 2},
    },
}


def test_a_full_config_parses_into_typed_frozen_objects() -> None:
    cfg = parse_ai_config(GOOD)
    local, cli, demo = cfg.adapters
    assert local == OpenAIAdapterConfig(
        "local", "http://127.0.0.1:11434/v1", "llama3", "OLLAMA_KEY", None, 0.2, None, 30.0, 4096
    )
    assert cli == CommandAdapterConfig("cli", ("ai", "--quiet"), 5.0)
    assert isinstance(demo, ScriptedAdapterConfig) and demo.fault is ScriptedFault.GARBAGE
    assert cfg.default == "cli"
    assert cfg.answerer.enabled and cfg.answerer.adapter == "local"
    assert cfg.answerer.rate_limit == RateLimit(5, 60.0, 2)
    assert cfg.adapter("demo") is demo
    with pytest.raises(AttributeError):
        cfg.default = "x"  # type: ignore[misc]


def test_defaults() -> None:
    assert parse_ai_config(None) == AIConfig()
    cfg = parse_ai_config({"adapters": [{"name": "s", "kind": "scripted"}]})
    assert cfg.default == "s" and not cfg.answerer.enabled


def with_first(**changes: Any) -> dict[str, Any]:
    first = {**GOOD["adapters"][0], **changes}
    first = {k: v for k, v in first.items() if v is not None}
    return {**GOOD, "adapters": [first, *GOOD["adapters"][1:]]}


@pytest.mark.parametrize(
    ("data", "key_path"),
    [
        (with_first(base_url="localhost:11434"), "ai.adapters[0].base_url"),
        (with_first(base_url=None), "ai.adapters[0].base_url"),
        (with_first(model=""), "ai.adapters[0].model"),
        (with_first(api_key="sk-secret"), "ai.adapters[0].api_key"),
        (with_first(api_key_env="NOT A NAME"), "ai.adapters[0].api_key_env"),
        (with_first(timeout=-1), "ai.adapters[0].timeout"),
        (with_first(timeout=True), "ai.adapters[0].timeout"),
        (with_first(max_output_bytes=0), "ai.adapters[0].max_output_bytes"),
        (with_first(kind="magic"), "ai.adapters[0].kind"),
        (with_first(name="bad name!"), "ai.adapters[0].name"),
        (with_first(name="cli"), "ai.adapters[1].name"),
        ({**GOOD, "adapters": "x"}, "ai.adapters"),
        (
            {**GOOD, "adapters": [{"name": "c", "kind": "command", "argv": "ai -q"}]},
            "ai.adapters[0].argv",
        ),
        (
            {**GOOD, "adapters": [{"name": "c", "kind": "command", "argv": ["ai", 3]}]},
            "ai.adapters[0].argv[1]",
        ),
        (
            {**GOOD, "adapters": [{"name": "s", "kind": "scripted", "accuracy": 2}]},
            "ai.adapters[0].accuracy",
        ),
        (
            {**GOOD, "adapters": [{"name": "s", "kind": "scripted", "fault": "x"}]},
            "ai.adapters[0].fault",
        ),
        ({**GOOD, "default": "nope"}, "ai.default"),
        ({**GOOD, "answerer": {"adapter": "nope"}}, "ai.answerer.adapter"),
        ({**GOOD, "answerer": {"rate_limit": {"requests": 0}}}, "ai.answerer.rate_limit.requests"),
        ({**GOOD, "answerer": {"enabled": "yes"}}, "ai.answerer.enabled"),
        ({**GOOD, "extra": 1}, "ai.extra"),
        ([], "ai"),
    ],
)
def test_errors_name_the_key_path(data: object, key_path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_ai_config(data, file="/etc/node.yaml")
    assert info.value.key_path == key_path
    assert "/etc/node.yaml" in str(info.value)


def test_api_key_in_yaml_points_to_the_env_var() -> None:
    with pytest.raises(ConfigError, match="api_key_env"):
        parse_ai_config(with_first(api_key="sk-secret"))


def test_factory_builds_each_kind() -> None:
    cfg = parse_ai_config(GOOD)
    local, cli, demo = (build_adapter(c) for c in cfg.adapters)
    assert (
        isinstance(local, OpenAIAdapter) and local.timeout == 30 and local.max_output_bytes == 4096
    )
    assert isinstance(cli, CommandAdapter) and cli.argv == ("ai", "--quiet")
    assert isinstance(demo, ScriptedAdapter) and demo.accuracy == 0.7


# --- rate limiter ----------------------------------------------------------------------------


def test_rate_limiter_window_and_concurrency() -> None:
    rl = RateLimiter(RateLimit(requests=2, per_seconds=10, concurrent=1))
    assert rl.try_acquire(0.0)
    assert not rl.try_acquire(0.1)  # one in flight
    rl.release()
    assert rl.try_acquire(1.0)
    rl.release()
    assert not rl.try_acquire(2.0)  # two in the window
    assert rl.try_acquire(10.5)  # the first has left the window
    rl.release()
    with pytest.raises(RoundError):
        rl.release()


# --- driver step --------------------------------------------------------------------------------


async def test_fulfil_commits_an_answer_or_abstains_on_adapter_failure() -> None:
    key = derive_key(6, 1)
    _, msg = new_round(
        derive_key(6, 0), "Compute 1 * 1 + 1 + 1. Reply with the integer.", [bytes(32)], 0.0
    )
    for adapter, kind in (
        (ScriptedAdapter(), Kind.COMMIT),
        (CommandAdapter("bad", argv=[sys.executable, "-c", "raise SystemExit(1)"]), Kind.ABSTAIN),
    ):
        part = Participant(key)
        rnd, msg = new_round(
            derive_key(6, 0), "Compute 1 * 1 + 1 + 1. Reply with the integer.", [part.me], 0.0
        )
        req = next(o for o in part.receive(rnd.asker, msg.raw, 0.1) if hasattr(o, "task"))
        assert req.task is AITask.ANSWER  # type: ignore[union-attr]
        out = await fulfil(part, req, adapter, lambda: 1.0)  # type: ignore[arg-type]
        assert [decode(o.data).kind for o in out if isinstance(o, Send)] == [kind]
