"""The Gemini adapter against a real HTTP server on 127.0.0.1 that speaks generateContent's
shape: the request, the key from the environment (in a header, never the URL), the answer,
blocked prompts, refusals naming the adapter, 429 with Retry-After, 5xx then an answer,
timeouts, malformed replies and the YAML config."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from gateway.converge.adapters.config import OpenAIAdapterConfig, parse_ai_config
from gateway.converge.adapters.factory import build_adapter
from gateway.converge.adapters.gemini import GeminiAdapter
from gateway.errors import (
    AdapterError,
    AdapterHTTPError,
    AdapterOutputError,
    AdapterTimeoutError,
    ConfigError,
)
from tests.unit.converge.adapters.test_openai_server import Server, respond_with, server

__all__ = ["server"]

KEY = "AIza-0123456789"
ENV = {"GEMINI_API_KEY": KEY}


def gemini_reply(*texts: str) -> dict[str, Any]:
    """A generateContent response whose first candidate has these text parts."""
    parts = [{"text": t} for t in texts or ("42",)]
    return {"candidates": [{"content": {"role": "model", "parts": parts},
                            "finishReason": "STOP", "index": 0}]}  # fmt: skip


def gemini(base: str, **kw: Any) -> GeminiAdapter:
    kw.setdefault("environ", ENV)
    kw.setdefault("api_key_env", "GEMINI_API_KEY")
    return GeminiAdapter("gem", base_url=base, model=kw.pop("model", "gemini-test"), **kw)


async def test_the_request_has_the_apis_shape_and_the_answer_is_the_text(server: Server) -> None:
    respond_with(server, lambda _r: _json(gemini_reply("4", "2")))
    ai = gemini(server.base, system_prompt="Be brief.", max_tokens=50, temperature=0.3)
    assert await ai.complete("What is 6 * 7?") == "42"
    (seen,) = server.seen
    assert seen.method == "POST" and seen.path == "/v1beta/models/gemini-test:generateContent"
    assert seen.headers["x-goog-api-key"] == KEY and "Authorization" not in seen.headers
    assert KEY not in seen.path and "key=" not in seen.path
    assert seen.json() == {  # the system prompt is systemInstruction, not a content turn
        "contents": [{"role": "user", "parts": [{"text": "What is 6 * 7?"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 50, "temperature": 0.3},
    }


@pytest.mark.parametrize("suffix", ["", "/", "/v1beta", "/v1beta/"])
async def test_without_options_only_contents_are_sent(server: Server, suffix: str) -> None:
    respond_with(server, lambda _r: _json(gemini_reply()))
    assert await gemini(server.base + suffix).complete("hi") == "42"
    (seen,) = server.seen
    assert seen.path == "/v1beta/models/gemini-test:generateContent"
    assert seen.json() == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


async def test_the_model_name_is_quoted_into_the_path(server: Server) -> None:
    raw_paths: list[str] = []

    async def ok(request: web.Request) -> web.StreamResponse:
        raw_paths.append(request.raw_path)
        return web.json_response(gemini_reply())

    respond_with(server, ok)
    await gemini(server.base, model="../x?y").complete("hi")
    assert raw_paths == ["/v1beta/models/..%2Fx%3Fy:generateContent"]


async def test_a_401_names_the_adapter_and_is_not_retried(server: Server) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        error = {"error": {"code": 401, "message": "API key not valid", "status": "UNAUTH"}}
        return web.json_response(error, status=401)

    respond_with(server, refuse)
    with pytest.raises(AdapterHTTPError) as info:
        await gemini(server.base, retries=3, retry_base=0.0).complete("hi")
    text = str(info.value)
    assert info.value.status == 401 and info.value.adapter == "gem"
    assert text.startswith("adapter 'gem': Gemini API refused: HTTP 401")
    assert "API key not valid" in text and KEY not in text
    assert len(server.seen) == 1


async def test_429_waits_the_retry_after_then_answers(server: Server) -> None:
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def busy_once(request: web.Request) -> web.StreamResponse:
        times.append(loop.time())
        if len(times) == 1:
            error = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}
            return web.json_response(error, status=429, headers={"Retry-After": "0.2"})
        return web.json_response(gemini_reply())

    respond_with(server, busy_once)
    assert await gemini(server.base, retries=2, retry_base=0.0).complete("hi") == "42"
    assert len(times) == 2 and times[1] - times[0] >= 0.2


async def test_500_then_503_then_an_answer(server: Server) -> None:
    async def flaky(request: web.Request) -> web.StreamResponse:
        if len(server.seen) <= 2:
            return web.Response(status=(500, 503)[len(server.seen) - 1], text="try later")
        return web.json_response(gemini_reply("ok"))

    respond_with(server, flaky)
    assert await gemini(server.base, retries=2, retry_base=0.001).complete("hi") == "ok"
    assert len(server.seen) == 3


async def test_a_server_that_never_answers_is_a_timeout(server: Server) -> None:
    stuck = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await stuck.wait()
        return web.json_response(gemini_reply())

    respond_with(server, hang)
    try:
        with pytest.raises(AdapterTimeoutError, match=r"^adapter 'gem': no answer within 0.3 s"):
            await gemini(server.base, timeout=0.3, retries=5).complete("hi")
    finally:
        stuck.set()
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json at all", "not JSON"),
        (b'{"candidates": [', "not JSON"),
        (b"{}", "no candidates"),
        (b'{"candidates": [], "promptFeedback": {"blockReason": "SAFETY"}}',
         r"blocked \(SAFETY\)"),
        (b'{"candidates": [{"finishReason": "MAX_TOKENS"}]}', "no content parts"),
        (b'{"candidates": [{"content": {"parts": []}, "finishReason": "RECITATION"}]}',
         "RECITATION"),
        (b'{"candidates": [{"content": {"parts": [{"text": 7}]}}]}', "no text"),
        (b'"just a string"', "no candidates"),
    ],
)  # fmt: skip
async def test_malformed_replies_are_output_errors_not_retried(
    server: Server, body: bytes, says: str
) -> None:
    respond_with(server, lambda _r: _raw(body))
    with pytest.raises(AdapterOutputError, match=says) as info:
        await gemini(server.base, retries=2, retry_base=0.0).complete("hi")
    assert info.value.adapter == "gem" and len(server.seen) == 1


async def test_a_missing_key_is_a_clear_error_and_nothing_is_sent(server: Server) -> None:
    with pytest.raises(AdapterError, match=r"GEMINI_API_KEY .*is not set"):
        await gemini(server.base, environ={}).complete("hi")
    with pytest.raises(AdapterError, match="holds characters an API key cannot have"):
        await gemini(server.base, environ={"GEMINI_API_KEY": "a b"}).complete("hi")
    with pytest.raises(AdapterError, match="needs a key: set api_key_env"):
        await gemini(server.base, api_key_env=None).complete("hi")
    assert server.seen == []


async def test_the_yaml_config_builds_an_adapter_that_reads_the_named_variable(
    server: Server,
) -> None:
    ai = parse_ai_config({"adapters": [
        {"name": "g", "kind": "gemini", "model": "gemini-x", "base_url": server.base,
         "api_key_env": "MY_GEMINI_KEY", "max_tokens": 33, "system_prompt": "Terse."},
    ], "default": "g"})  # fmt: skip
    cfg = ai.adapter("g")
    assert isinstance(cfg, OpenAIAdapterConfig) and cfg.provider == "gemini"
    respond_with(server, lambda _r: _json(gemini_reply()))
    adapter = build_adapter(cfg, environ={"MY_GEMINI_KEY": "k2"})
    assert isinstance(adapter, GeminiAdapter) and await adapter.complete("hi") == "42"
    (seen,) = server.seen
    assert seen.path == "/v1beta/models/gemini-x:generateContent"
    assert seen.headers["x-goog-api-key"] == "k2"
    assert seen.json()["generationConfig"] == {"maxOutputTokens": 33}
    assert seen.json()["systemInstruction"] == {"parts": [{"text": "Terse."}]}


def test_the_yaml_defaults_and_errors() -> None:
    ai = parse_ai_config({"adapters": [{"name": "g", "kind": "gemini", "model": "m"}]})
    cfg = ai.adapter("g")
    assert isinstance(cfg, OpenAIAdapterConfig)
    assert (cfg.base_url, cfg.api_key_env, cfg.retries) == (
        "https://generativelanguage.googleapis.com", "GEMINI_API_KEY", 2,
    )  # fmt: skip
    remote = build_adapter(cfg, socks_proxy="socks5://127.0.0.1:9050", environ=ENV)
    assert isinstance(remote, GeminiAdapter)
    assert remote.url == "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent"
    with pytest.raises(ConfigError, match=r"ai\.adapters\[0\]\.max_tokens"):
        parse_ai_config({"adapters": [{"name": "g", "kind": "gemini", "model": "m",
                                       "max_tokens": 0}]})  # fmt: skip
    with pytest.raises(ConfigError, match=r"ai\.adapters\[0\]\.kind"):
        parse_ai_config({"adapters": [{"name": "g", "kind": "gemeni", "model": "m"}]})


async def _json(doc: dict[str, Any]) -> web.StreamResponse:
    return web.json_response(doc)


async def _raw(body: bytes) -> web.StreamResponse:
    return web.Response(body=body, content_type="application/json")
