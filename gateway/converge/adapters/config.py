"""Typed, frozen AI config (``ai:`` in the node's YAML) and its parser.

Errors are ConfigError naming the key path, e.g. ``ai.adapters[0].base_url``.
API keys never appear in YAML: ``api_key_env`` names an environment variable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from gateway.converge.adapters.base import DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_TIMEOUT
from gateway.converge.adapters.faults import ScriptedFault
from gateway.converge.limits import MAX_QUESTION_BYTES
from gateway.errors import ConfigError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_OUTPUT_LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True)
class OpenAIAdapterConfig:
    """An HTTP API adapter: ``provider`` is openai (any OpenAI-compatible endpoint: OpenAI,
    Ollama, llama.cpp, vLLM...), anthropic (the Messages API) or gemini."""

    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    provider: str = "openai"
    retries: int = 0
    retry_base: float = 1.0


@dataclass(frozen=True)
class CommandAdapterConfig:
    name: str
    argv: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES


@dataclass(frozen=True)
class ScriptedAdapterConfig:
    name: str
    accuracy: float = 1.0
    seed: int = 0
    fault: ScriptedFault = ScriptedFault.NONE
    timeout: float = 10.0
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES


AdapterConfig = OpenAIAdapterConfig | CommandAdapterConfig | ScriptedAdapterConfig


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per ``per_seconds``, and ``concurrent`` at a time."""

    requests: int = 10
    per_seconds: float = 60.0
    concurrent: int = 1


@dataclass(frozen=True)
class AnswererConfig:
    """The answer-only role: this node answers others' rounds with one of its AIs."""

    enabled: bool = False
    adapter: str | None = None
    rate_limit: RateLimit = RateLimit()
    max_question_bytes: int = MAX_QUESTION_BYTES


@dataclass(frozen=True)
class AIConfig:
    adapters: tuple[AdapterConfig, ...] = ()
    #: the adapter used for this node's own answers, reviews and syntheses
    default: str | None = None
    answerer: AnswererConfig = AnswererConfig()

    def adapter(self, name: str) -> AdapterConfig:
        """The adapter config called ``name``."""
        for cfg in self.adapters:
            if cfg.name == name:
                return cfg
        raise KeyError(name)


class _Reader:
    """Reads typed values out of one mapping, naming the key path in errors."""

    def __init__(self, data: object, path: str, file: Path | str | None) -> None:
        self.path, self.file = path, file
        if not isinstance(data, Mapping):
            raise ConfigError(file, path, "a mapping", data)
        self.data: Mapping[object, object] = data

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def fail(
        self, name: str, expected: str, got: object = None, detail: str | None = None
    ) -> NoReturn:
        raise ConfigError(self.file, self.key(name), expected, got, detail=detail)

    def only(self, *allowed: str) -> None:
        for k in self.data:
            if k not in allowed:
                detail = None
                if k == "api_key":
                    detail = "API keys are read from the environment; name it in api_key_env"
                raise ConfigError(
                    self.file, f"{self.path}.{k}", f"one of {', '.join(allowed)}", detail=detail
                )

    def raw(self, name: str, default: object = None) -> object:
        return self.data.get(name, default)

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self.data.get(name, default)
        if value is None and required:
            self.fail(name, "a string (required)")
        if not isinstance(value, str) or not value.strip():
            self.fail(name, "a non-empty string", value)
        assert isinstance(value, str)
        return value

    def opt_string(self, name: str) -> str | None:
        return None if self.data.get(name) is None else self.string(name)

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(name, "a number", value)
        assert isinstance(value, int | float)
        if not math.isfinite(value) or not lo <= value <= hi:
            self.fail(name, f"a number in [{lo:g}, {hi:g}]", value)
        return float(value)

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.fail(name, f"an integer in [{lo}, {hi}]", value)
        assert isinstance(value, int)
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            self.fail(name, "true or false", value)
        assert isinstance(value, bool)
        return value


def _limits(r: _Reader, default_timeout: float) -> tuple[float, int]:
    return (
        r.number("timeout", default_timeout, 0.001, 86_400),
        r.integer("max_output_bytes", DEFAULT_MAX_OUTPUT_BYTES, 1, MAX_OUTPUT_LIMIT),
    )


#: provider -> (default base_url, default api_key_env, default retries)
PROVIDERS: dict[str, tuple[str | None, str | None, int]] = {
    "openai": (None, None, 0),
    "anthropic": ("https://api.anthropic.com", "ANTHROPIC_API_KEY", 2),
    "gemini": ("https://generativelanguage.googleapis.com", "GEMINI_API_KEY", 2),
}


def _http_api(r: _Reader, name: str, provider: str) -> OpenAIAdapterConfig:
    r.only(
        "name", "kind", "base_url", "model", "api_key_env", "system_prompt",
        "temperature", "max_tokens", "timeout", "max_output_bytes", "retries", "retry_base",
    )  # fmt: skip
    default_url, default_env, default_retries = PROVIDERS[provider]
    base_url = r.string("base_url", default_url, required=default_url is None)
    if not re.match(r"^https?://[^/\s]+", base_url):
        r.fail("base_url", "an http:// or https:// URL", base_url)
    env = r.opt_string("api_key_env") or default_env
    if env is not None and not _ENV_RE.match(env):
        r.fail("api_key_env", "an environment variable name", env)
    temperature = None if r.raw("temperature") is None else r.number("temperature", 0, 0, 2)
    max_tokens = None if r.raw("max_tokens") is None else r.integer("max_tokens", 0, 1, 10**7)
    timeout, max_out = _limits(r, DEFAULT_TIMEOUT)
    return OpenAIAdapterConfig(
        name, base_url, r.string("model", required=True), env,
        r.opt_string("system_prompt"), temperature, max_tokens, timeout, max_out, provider,
        r.integer("retries", default_retries, 0, 10), r.number("retry_base", 1.0, 0.0, 60.0),
    )  # fmt: skip


def _openai(r: _Reader, name: str) -> OpenAIAdapterConfig:
    return _http_api(r, name, "openai")


def _anthropic(r: _Reader, name: str) -> OpenAIAdapterConfig:
    return _http_api(r, name, "anthropic")


def _gemini(r: _Reader, name: str) -> OpenAIAdapterConfig:
    return _http_api(r, name, "gemini")


def _command(r: _Reader, name: str) -> CommandAdapterConfig:
    r.only("name", "kind", "argv", "timeout", "max_output_bytes")
    argv = r.raw("argv")
    if isinstance(argv, str):
        r.fail("argv", "a list of strings", argv, "no shell is used: split the command yourself")
    if not isinstance(argv, list) or not argv:
        r.fail("argv", "a non-empty list of strings", argv)
    assert isinstance(argv, list)
    for i, item in enumerate(argv):
        if not isinstance(item, str) or not item:
            raise ConfigError(r.file, f"{r.key('argv')}[{i}]", "a non-empty string", item)
    timeout, max_out = _limits(r, DEFAULT_TIMEOUT)
    return CommandAdapterConfig(name, tuple(argv), timeout, max_out)


def _scripted(r: _Reader, name: str) -> ScriptedAdapterConfig:
    r.only("name", "kind", "accuracy", "seed", "fault", "timeout", "max_output_bytes")
    fault_name = r.string("fault", "none")
    try:
        fault = ScriptedFault(fault_name)
    except ValueError:
        choices = ", ".join(f.value for f in ScriptedFault)
        r.fail("fault", f"one of {choices}", fault_name)
    timeout, max_out = _limits(r, 10.0)
    return ScriptedAdapterConfig(
        name,
        r.number("accuracy", 1.0, 0.0, 1.0),
        r.integer("seed", 0, -(2**63), 2**63 - 1),
        fault,
        timeout,
        max_out,
    )


_KINDS: dict[str, Callable[[_Reader, str], AdapterConfig]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "command": _command,
    "scripted": _scripted,
}


def _adapter(data: object, path: str, file: Path | str | None) -> AdapterConfig:
    r = _Reader(data, path, file)
    name = r.string("name", required=True)
    if not _NAME_RE.match(name):
        r.fail("name", "letters, digits, '_', '.', '-' (up to 64)", name)
    kind = r.raw("kind")
    if kind not in _KINDS:
        r.fail("kind", f"one of {', '.join(_KINDS)}", kind)
    return _KINDS[str(kind)](r, name)


def _answerer(data: object, path: str, file: Path | str | None, names: set[str]) -> AnswererConfig:
    r = _Reader(data, path, file)
    r.only("enabled", "adapter", "rate_limit", "max_question_bytes")
    adapter = r.opt_string("adapter")
    if adapter is not None and adapter not in names:
        r.fail("adapter", f"the name of a configured adapter ({', '.join(sorted(names))})", adapter)
    rl = _Reader(r.raw("rate_limit", {}), r.key("rate_limit"), file)
    rl.only("requests", "per_seconds", "concurrent")
    rate = RateLimit(
        rl.integer("requests", 10, 1, 1_000_000),
        rl.number("per_seconds", 60.0, 0.001, 86_400 * 7),
        rl.integer("concurrent", 1, 1, 1024),
    )
    enabled = r.boolean("enabled", False)
    if enabled and adapter is None and not names:
        r.fail("adapter", "an adapter to answer with (none is configured)")
    max_q = r.integer("max_question_bytes", MAX_QUESTION_BYTES, 1, MAX_QUESTION_BYTES)
    return AnswererConfig(enabled, adapter, rate, max_q)


def parse_ai_config(data: object, *, file: Path | str | None = None, path: str = "ai") -> AIConfig:
    """Build an AIConfig from the parsed YAML value of ``ai`` (None gives the defaults)."""
    if data is None:
        return AIConfig()
    r = _Reader(data, path, file)
    r.only("adapters", "default", "answerer")
    items = r.raw("adapters", [])
    if not isinstance(items, list):
        r.fail("adapters", "a list of adapters", items)
    assert isinstance(items, list)
    adapters = tuple(_adapter(x, f"{r.key('adapters')}[{i}]", file) for i, x in enumerate(items))
    names = [a.name for a in adapters]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ConfigError(file, f"{r.key('adapters')}[{i}].name", "a unique name", n)
    default = r.opt_string("default")
    if default is not None and default not in names:
        r.fail("default", "the name of a configured adapter", default)
    answerer = _answerer(r.raw("answerer", {}), r.key("answerer"), file, set(names))
    return AIConfig(adapters, default or (names[0] if names else None), answerer)
