"""The Anthropic adapter against a real HTTP server on 127.0.0.1 that speaks the Messages
API's shape: the request, the key from the environment, the answer, refusals naming the
adapter, 429 with Retry-After, 5xx then an answer, timeouts, malformed replies and the YAML
config."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from gateway.converge.adapters.anthropic import API_VERSION, DEFAULT_MAX_TOKENS, AnthropicAdapter
from gateway.converge.adapters.config import OpenAIAdapterConfig, parse_ai_config
from gateway.converge.adapters.factory import build_adapter
from gateway.errors import (
    AdapterError,
    AdapterHTTPError,
    AdapterOutputError,
    AdapterTimeoutError,
    ConfigError,
)
from tests.unit.converge.adapters.test_openai_server import Server, respond_with, server

__all__ = ["server"]

KEY = "sk-ant-0123456789"
ENV = {"ANTHROPIC_API_KEY": KEY}


def claude_reply(text: str = "42") -> dict[str, Any]:
    """A Messages API response with one text block."""
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
    }  # fmt: skip


def claude(base: str, **kw: Any) -> AnthropicAdapter:
    kw.setdefault("environ", ENV)
    kw.setdefault("api_key_env", "ANTHROPIC_API_KEY")
    return AnthropicAdapter("claude", base_url=base, model="claude-test", **kw)


async def test_the_request_has_the_apis_shape_and_the_answer_is_the_text(server: Server) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        reply = claude_reply("forty")
        reply["content"] += [
            {"type": "thinking", "thinking": "hmm"},
            {"type": "text", "text": "-two"},
        ]
        return web.json_response(reply)

    respond_with(server, ok)
    ai = claude(server.base, system_prompt="Be brief.", max_tokens=50, temperature=0.2)
    assert await ai.complete("What is 6 * 7?") == "forty-two"
    (seen,) = server.seen
    assert seen.method == "POST" and seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == KEY and seen.headers["anthropic-version"] == API_VERSION
    assert "Authorization" not in seen.headers
    assert seen.json() == {  # the system prompt is top-level, not a message
        "model": "claude-test", "max_tokens": 50, "system": "Be brief.", "temperature": 0.2,
        "messages": [{"role": "user", "content": "What is 6 * 7?"}],
    }  # fmt: skip


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_without_options_max_tokens_is_the_default_and_no_system_is_sent(
    server: Server, suffix: str
) -> None:
    respond_with(server, lambda _r: _json(claude_reply()))
    assert await claude(server.base + suffix).complete("hi") == "42"
    (seen,) = server.seen
    assert seen.path == "/v1/messages"
    assert seen.json() == {
        "model": "claude-test", "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "hi"}],
    }  # fmt: skip


async def test_a_temperature_above_the_apis_range_is_cut_to_1(server: Server) -> None:
    respond_with(server, lambda _r: _json(claude_reply()))
    await claude(server.base, temperature=1.7).complete("hi")
    assert server.seen[0].json()["temperature"] == 1.0


async def test_a_401_names_the_adapter_and_is_not_retried(server: Server) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        error = {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}}
        return web.json_response(error, status=401)

    respond_with(server, refuse)
    with pytest.raises(AdapterHTTPError) as info:
        await claude(server.base, retries=3, retry_base=0.0).complete("hi")
    text = str(info.value)
    assert info.value.status == 401 and info.value.adapter == "claude"
    assert text.startswith("adapter 'claude': Anthropic Messages API refused: HTTP 401")
    assert "bad key" in text and KEY not in text
    assert len(server.seen) == 1


async def test_429_waits_the_retry_after_then_answers(server: Server) -> None:
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def busy_once(request: web.Request) -> web.StreamResponse:
        times.append(loop.time())
        if len(times) == 1:
            error = {"type": "error", "error": {"type": "rate_limit_error"}}
            return web.json_response(error, status=429, headers={"Retry-After": "0.2"})
        return web.json_response(claude_reply())

    respond_with(server, busy_once)
    assert await claude(server.base, retries=2, retry_base=0.0).complete("hi") == "42"
    assert len(times) == 2 and times[1] - times[0] >= 0.2  # retry_base 0: the header's wait


async def test_500_then_an_answer(server: Server) -> None:
    async def flaky(request: web.Request) -> web.StreamResponse:
        if len(server.seen) == 1:
            return web.Response(status=500, text="internal error")
        return web.json_response(claude_reply("ok"))

    respond_with(server, flaky)
    assert await claude(server.base, retries=1, retry_base=0.001).complete("hi") == "ok"
    assert len(server.seen) == 2


async def test_529_overloaded_until_the_retries_run_out(server: Server) -> None:
    async def overloaded(request: web.Request) -> web.StreamResponse:
        return web.json_response({"type": "error", "error": {"type": "overloaded_error"}},
                                 status=529)  # fmt: skip

    respond_with(server, overloaded)
    with pytest.raises(AdapterHTTPError, match=r"^adapter 'claude': .*HTTP 529.*overloaded"):
        await claude(server.base, retries=2, retry_base=0.001).complete("hi")
    assert len(server.seen) == 3


async def test_a_server_that_never_answers_is_a_timeout(server: Server) -> None:
    stuck = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await stuck.wait()
        return web.json_response(claude_reply())

    respond_with(server, hang)
    try:
        with pytest.raises(AdapterTimeoutError, match=r"^adapter 'claude': no answer within 0.3 s"):
            await claude(server.base, timeout=0.3, retries=5).complete("hi")
    finally:
        stuck.set()
    assert len(server.seen) == 1  # the timeout bounds all attempts: none is left for a retry


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b'{"content": [{"type": "text", "text": "cut', "not JSON"),
        (b'{"id": "x"}', "no content blocks"),
        (b'{"content": []}', "no text"),
        (b'{"content": [{"type": "text", "text": 42}]}', "no text"),
        (b'{"content": [{"type": "tool_use", "id": "t"}], "stop_reason": "tool_use"}', "tool_use"),
        (b"[1, 2]", "no content blocks"),
    ],
)
async def test_malformed_replies_are_output_errors_not_retried(
    server: Server, body: bytes, says: str
) -> None:
    respond_with(server, lambda _r: _raw(body))
    with pytest.raises(AdapterOutputError, match=says) as info:
        await claude(server.base, retries=2, retry_base=0.0).complete("hi")
    assert info.value.adapter == "claude" and len(server.seen) == 1


async def test_a_missing_key_is_a_clear_error_and_nothing_is_sent(server: Server) -> None:
    with pytest.raises(AdapterError, match=r"ANTHROPIC_API_KEY .*is not set"):
        await claude(server.base, environ={}).complete("hi")
    with pytest.raises(AdapterError, match=r"ANTHROPIC_API_KEY .*is not set"):
        await claude(server.base, environ={"ANTHROPIC_API_KEY": "  "}).complete("hi")
    with pytest.raises(AdapterError, match="needs a key: set api_key_env"):
        await claude(server.base, api_key_env=None).complete("hi")
    assert server.seen == []


async def test_the_yaml_config_builds_an_adapter_that_reads_the_named_variable(
    server: Server,
) -> None:
    ai = parse_ai_config({"adapters": [
        {"name": "claude", "kind": "anthropic", "model": "claude-x", "base_url": server.base,
         "api_key_env": "MY_CLAUDE_KEY", "max_tokens": 77, "timeout": 5, "retries": 1,
         "retry_base": 0.01},
    ]})  # fmt: skip
    cfg = ai.adapter("claude")
    assert isinstance(cfg, OpenAIAdapterConfig)
    assert (cfg.provider, cfg.api_key_env, cfg.max_tokens, cfg.timeout, cfg.retries) == (
        "anthropic", "MY_CLAUDE_KEY", 77, 5.0, 1,
    )  # fmt: skip
    respond_with(server, lambda _r: _json(claude_reply()))
    adapter = build_adapter(cfg, environ={"MY_CLAUDE_KEY": "k1"})
    assert isinstance(adapter, AnthropicAdapter) and await adapter.complete("hi") == "42"
    assert server.seen[0].headers["x-api-key"] == "k1"
    assert server.seen[0].json()["max_tokens"] == 77 and adapter.retrying.retries == 1


def test_the_yaml_defaults_and_errors() -> None:
    ai = parse_ai_config({"adapters": [{"name": "c", "kind": "anthropic", "model": "m"}]})
    cfg = ai.adapter("c")
    assert isinstance(cfg, OpenAIAdapterConfig)
    assert (cfg.base_url, cfg.api_key_env, cfg.retries, cfg.retry_base) == (
        "https://api.anthropic.com", "ANTHROPIC_API_KEY", 2, 1.0,
    )  # fmt: skip
    remote = build_adapter(cfg, socks_proxy="socks5://127.0.0.1:9050", environ=ENV)
    assert isinstance(remote, AnthropicAdapter) and remote.socks_proxy is not None
    assert remote.url == "https://api.anthropic.com/v1/messages"
    with pytest.raises(AdapterError, match="must be reached through tor"):
        build_adapter(cfg, environ=ENV)  # a remote host and no SOCKS proxy: never direct
    bad: list[tuple[dict[str, Any], str]] = [
        ({}, r"ai\.adapters\[0\]\.model"),
        ({"model": "m", "retries": 11}, r"ai\.adapters\[0\]\.retries"),
        ({"model": "m", "retry_base": -1}, r"ai\.adapters\[0\]\.retry_base"),
        ({"model": "m", "api_key_env": "not a name"}, r"ai\.adapters\[0\]\.api_key_env"),
        ({"model": "m", "api_key": "sk-ant-x"}, r"api_key"),
        ({"model": "m", "base_url": "ftp://x"}, r"ai\.adapters\[0\]\.base_url"),
    ]
    for extra, where in bad:
        with pytest.raises(ConfigError, match=where):
            parse_ai_config({"adapters": [{"name": "c", "kind": "anthropic", **extra}]})


async def _json(doc: dict[str, Any]) -> web.StreamResponse:
    return web.json_response(doc)


async def _raw(body: bytes) -> web.StreamResponse:
    return web.Response(body=body, content_type="application/json")
