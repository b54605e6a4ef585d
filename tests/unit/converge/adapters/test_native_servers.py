"""The Anthropic and Gemini adapters against real HTTP servers on 127.0.0.1 that speak
those APIs' shapes: requests, keys from the environment, answers, refusals naming the
adapter, 429 with Retry-After, 5xx then success, timeouts, and the YAML config."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from aiohttp import web

from gateway.converge.adapters.anthropic import API_VERSION, AnthropicAdapter
from gateway.converge.adapters.config import parse_ai_config
from gateway.converge.adapters.factory import build_adapter
from gateway.converge.adapters.gemini import GeminiAdapter
from gateway.converge.adapters.retry import Retrying, retry_after_seconds
from gateway.errors import (
    AdapterError,
    AdapterHTTPError,
    AdapterOutputError,
    AdapterTimeoutError,
    ConfigError,
)
from tests.unit.converge.adapters.test_openai_server import Server, respond_with, server

__all__ = ["server"]

KEY = "key-0123456789"
ENV = {"ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY}


def claude_reply(text: str = "42") -> dict[str, Any]:
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
    }  # fmt: skip


def gemini_reply(text: str = "42") -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "STOP"}]}  # fmt: skip


def claude(base: str, **kw: Any) -> AnthropicAdapter:
    kw.setdefault("environ", ENV)
    kw.setdefault("api_key_env", "ANTHROPIC_API_KEY")
    return AnthropicAdapter("claude", base_url=base, model="claude-test", **kw)


def gemini(base: str, **kw: Any) -> GeminiAdapter:
    kw.setdefault("environ", ENV)
    kw.setdefault("api_key_env", "GEMINI_API_KEY")
    return GeminiAdapter("gem", base_url=base, model="gemini-test", **kw)


async def test_anthropic_request_and_answer(server: Server) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        return web.json_response(claude_reply("forty-two"))

    respond_with(server, ok)
    ai = claude(server.base, system_prompt="Be brief.", max_tokens=50, temperature=0.2)
    assert await ai.complete("What is 6 * 7?") == "forty-two"
    (seen,) = server.seen
    assert seen.method == "POST" and seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == KEY and seen.headers["anthropic-version"] == API_VERSION
    assert "Authorization" not in seen.headers
    assert seen.json() == {
        "model": "claude-test", "max_tokens": 50, "system": "Be brief.", "temperature": 0.2,
        "messages": [{"role": "user", "content": "What is 6 * 7?"}],
    }  # fmt: skip


async def test_gemini_request_and_answer(server: Server) -> None:
    async def ok(request: web.Request) -> web.StreamResponse:
        reply = gemini_reply("4")
        reply["candidates"][0]["content"]["parts"].append({"text": "2"})
        return web.json_response(reply)

    respond_with(server, ok)
    ai = gemini(server.base, system_prompt="Be brief.", max_tokens=50)
    assert await ai.complete("What is 6 * 7?") == "42"
    (seen,) = server.seen
    assert seen.path == "/v1beta/models/gemini-test:generateContent"
    assert seen.headers["x-goog-api-key"] == KEY and "key=" not in seen.path
    assert seen.json() == {
        "contents": [{"role": "user", "parts": [{"text": "What is 6 * 7?"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 50},
    }


@pytest.mark.parametrize("make", [claude, gemini])
async def test_a_refusal_names_the_adapter_and_the_provider(server: Server, make: Any) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        error = {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}}
        return web.json_response(error, status=401)

    respond_with(server, refuse)
    with pytest.raises(AdapterHTTPError) as info:
        await make(server.base, retries=3, retry_base=0.0).complete("hi")
    text = str(info.value)
    assert info.value.status == 401 and "bad key" in text and KEY not in text
    assert f"adapter {info.value.adapter!r}" in text and "API refused: HTTP 401" in text
    assert len(server.seen) == 1  # a refusal is not retried


@pytest.mark.parametrize("make", [claude, gemini])
async def test_429_with_retry_after_then_success(server: Server, make: Any) -> None:
    answers = [claude_reply(), gemini_reply()][0 if make is claude else 1]

    async def busy_once(request: web.Request) -> web.StreamResponse:
        if len(server.seen) == 1:
            return web.json_response({"error": "slow down"}, status=429,
                                     headers={"Retry-After": "0.05"})  # fmt: skip
        return web.json_response(answers)

    respond_with(server, busy_once)
    assert await make(server.base, retries=2, retry_base=0.0).complete("hi") == "42"
    assert len(server.seen) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 529])
async def test_server_errors_are_retried_then_given_up(server: Server, status: int) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text="overloaded")

    respond_with(server, broken)
    with pytest.raises(AdapterHTTPError) as info:
        await claude(server.base, retries=2, retry_base=0.001).complete("hi")
    assert info.value.status == status and len(server.seen) == 3


async def test_a_5xx_then_an_answer(server: Server) -> None:
    async def flaky(request: web.Request) -> web.StreamResponse:
        if len(server.seen) < 3:
            return web.Response(status=503, text="try later")
        return web.json_response(gemini_reply())

    respond_with(server, flaky)
    assert await gemini(server.base, retries=3, retry_base=0.001).complete("hi") == "42"
    assert len(server.seen) == 3


async def test_the_timeout_bounds_every_attempt_together(server: Server) -> None:
    stuck = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await stuck.wait()
        return web.json_response(claude_reply())

    respond_with(server, hang)
    with pytest.raises(AdapterTimeoutError):
        await claude(server.base, timeout=0.3, retries=5).complete("hi")
    assert len(server.seen) == 1  # a timeout is not retried: the time is up
    stuck.set()


@pytest.mark.parametrize(
    ("make", "body", "says"),
    [
        (claude, {"content": []}, "no text"),
        (claude, {"content": [{"type": "tool_use", "id": "x"}], "stop_reason": "tool_use"},
         "tool_use"),
        (claude, {"id": "x"}, "no content blocks"),
        (gemini, {"promptFeedback": {"blockReason": "SAFETY"}}, r"blocked \(SAFETY\)"),
        (gemini, {"candidates": [{"finishReason": "MAX_TOKENS"}]}, "no content parts"),
        (gemini, {"candidates": [{"content": {"parts": []}, "finishReason": "OTHER"}]}, "OTHER"),
    ],
)  # fmt: skip
async def test_answers_without_text_are_output_errors(
    server: Server, make: Any, body: dict[str, Any], says: str
) -> None:
    async def odd(request: web.Request) -> web.StreamResponse:
        return web.json_response(body)

    respond_with(server, odd)
    with pytest.raises(AdapterOutputError, match=says):
        await make(server.base, retries=2, retry_base=0.0).complete("hi")
    assert len(server.seen) == 1


@pytest.mark.parametrize("make", [claude, gemini])
async def test_a_missing_key_is_a_clear_error_and_nothing_is_sent(
    server: Server, make: Any
) -> None:
    with pytest.raises(AdapterError, match="is not set"):
        await make(server.base, environ={}).complete("hi")
    with pytest.raises(AdapterError, match="needs a key"):
        await make(server.base, api_key_env=None).complete("hi")
    assert server.seen == []


def test_the_yaml_names_the_providers_with_their_defaults() -> None:
    ai = parse_ai_config({"adapters": [
        {"name": "claude", "kind": "anthropic", "model": "claude-sonnet-4-5"},
        {"name": "gem", "kind": "gemini", "model": "gemini-2.5-flash", "retries": 0},
        {"name": "local", "kind": "openai", "base_url": "http://127.0.0.1:11434/v1",
         "model": "llama3.2"},
    ], "default": "claude"})  # fmt: skip
    claude_cfg, gem_cfg, local_cfg = (ai.adapter(n) for n in ("claude", "gem", "local"))
    assert (claude_cfg.provider, claude_cfg.base_url, claude_cfg.api_key_env, claude_cfg.retries) \
        == ("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", 2)  # type: ignore[union-attr]
    assert (gem_cfg.api_key_env, gem_cfg.retries) == ("GEMINI_API_KEY", 0)  # type: ignore[union-attr]
    assert local_cfg.retries == 0 and local_cfg.api_key_env is None  # type: ignore[union-attr]
    remote = build_adapter(claude_cfg, socks_proxy="socks5://127.0.0.1:9050", environ=ENV)
    assert isinstance(remote, AnthropicAdapter) and remote.socks_proxy is not None
    assert isinstance(build_adapter(gem_cfg, socks_proxy="socks5://127.0.0.1:1"), GeminiAdapter)
    with pytest.raises(ConfigError, match=r"ai\.adapters\[0\]\.model"):
        parse_ai_config({"adapters": [{"name": "c", "kind": "anthropic"}], "default": "c"})
    with pytest.raises(ConfigError, match=r"retries"):
        parse_ai_config({"adapters": [{"name": "c", "kind": "gemini", "model": "m",
                                       "retries": 99}], "default": "c"})  # fmt: skip


def test_backoff_doubles_honours_retry_after_and_is_capped() -> None:
    retrying = Retrying(3, 1.0, random.Random(1))
    error = AdapterHTTPError("x", status=503)
    waits = [retrying.delay(n, error) for n in range(4)]
    assert waits[3] is None and all(w is not None for w in waits[:3])
    assert 1.0 <= waits[0] <= 1.25 and 2.0 <= waits[1] <= 2.5 and 4.0 <= waits[2] <= 5.0  # type: ignore[operator]
    assert retrying.delay(0, AdapterHTTPError("x", status=429, retry_after=7)) == 7
    assert retrying.delay(0, AdapterHTTPError("x", status=429, retry_after=600)) == 60
    assert retrying.delay(0, AdapterHTTPError("x", status=400)) is None
    assert retrying.delay(0, AdapterOutputError("x")) is None
    assert retrying.delay(0, AdapterError("connection refused")) is not None
    assert [retry_after_seconds(v) for v in ("3", " 0.5 ", "soon", "-1", None)] == [
        3.0, 0.5, None, None, None,
    ]  # fmt: skip
