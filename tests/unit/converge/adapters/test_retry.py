"""The shared retry policy (backoff, jitter, Retry-After, what is retried) on its own, and
as the HTTP adapters (openai, anthropic, gemini) apply it against servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import socket
from email.utils import formatdate
from typing import Any

import pytest
from aiohttp import web

from gateway.converge.adapters.openai import OpenAIAdapter
from gateway.converge.adapters.retry import MAX_WAIT, Retrying, retry_after_seconds
from gateway.errors import (
    AdapterError,
    AdapterHTTPError,
    AdapterOutputError,
    AdapterTimeoutError,
)
from tests.unit.converge.adapters.test_anthropic import claude, claude_reply
from tests.unit.converge.adapters.test_gemini import gemini, gemini_reply
from tests.unit.converge.adapters.test_openai_server import Server, answer, respond_with, server

__all__ = ["server"]


def test_backoff_doubles_with_at_most_a_quarter_of_jitter() -> None:
    retrying = Retrying(4, 0.5, random.Random(7))
    error = AdapterHTTPError("x", status=503)
    for _ in range(50):
        waits = [retrying.delay(n, error) for n in range(5)]
        assert waits[4] is None  # retries=4: attempts 0..3 may be followed by another
        for n, wait in enumerate(waits[:4]):
            assert wait is not None and 0.5 * 2**n <= wait <= 0.5 * 2**n * 1.25


def test_jitter_varies_the_wait() -> None:
    retrying = Retrying(1, 1.0, random.Random(3))
    waits = {retrying.delay(0, AdapterHTTPError("x", status=500)) for _ in range(20)}
    assert len(waits) > 10


def test_retry_after_is_honoured_and_capped() -> None:
    retrying = Retrying(3, 1.0, random.Random(1))
    assert retrying.delay(0, AdapterHTTPError("x", status=429, retry_after=7)) == 7
    assert retrying.delay(0, AdapterHTTPError("x", status=503, retry_after=7)) == 7
    assert retrying.delay(0, AdapterHTTPError("x", status=429, retry_after=600)) == MAX_WAIT
    wait = retrying.delay(2, AdapterHTTPError("x", status=429, retry_after=0.1))
    assert wait is not None and wait >= 4.0  # a shorter Retry-After does not cut the backoff
    assert Retrying(40, 10.0).delay(30, AdapterHTTPError("x", status=500)) == MAX_WAIT


@pytest.mark.parametrize(
    ("error", "again"),
    [
        (AdapterHTTPError("x", status=429), True),
        (AdapterHTTPError("x", status=500), True),
        (AdapterHTTPError("x", status=502), True),
        (AdapterHTTPError("x", status=503), True),
        (AdapterHTTPError("x", status=504), True),
        (AdapterHTTPError("x", status=529), True),
        (AdapterHTTPError("x", status=400), False),
        (AdapterHTTPError("x", status=401), False),
        (AdapterHTTPError("x", status=403), False),
        (AdapterHTTPError("x", status=404), False),
        (AdapterHTTPError("x", status=501), False),
        (AdapterOutputError("malformed"), False),
        (AdapterTimeoutError("slow"), False),
        (AdapterError("request failed: connection refused"), True),
    ],
)
def test_what_is_retried(error: AdapterError, again: bool) -> None:
    assert (Retrying(1, 0.0).delay(0, error) is not None) is again
    assert Retrying(0, 0.0).delay(0, error) is None  # retries=0: never


def test_retry_after_values() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds("3") == 3.0 and retry_after_seconds(" 0.5 ") == 0.5
    assert retry_after_seconds(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert retry_after_seconds(formatdate(now - 30, usegmt=True), now=now) == 0.0
    for bad in ("soon", "-1", "nan", "inf", "", "Mon, 32 Foo 2023", None):
        assert retry_after_seconds(bad) is None, bad


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Retrying(-1)
    with pytest.raises(ValueError):
        Retrying(1, -0.5)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_every_http_adapter_retries_429_then_answers(server: Server, provider: str) -> None:
    reply = {"openai": answer(), "anthropic": claude_reply(), "gemini": gemini_reply()}[provider]

    async def busy_twice(request: web.Request) -> web.StreamResponse:
        if len(server.seen) <= 2:
            return web.json_response({"error": "busy"}, status=429, headers={"Retry-After": "0"})
        return web.json_response(reply)

    respond_with(server, busy_twice)
    assert await _adapter(provider, server.base, retries=2).complete("hi") == "42"
    assert len(server.seen) == 3


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_retries_exhausted_raise_the_last_error_naming_the_adapter(
    server: Server, provider: str
) -> None:
    async def down(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text=f"down #{len(server.seen)}")

    respond_with(server, down)
    with pytest.raises(AdapterHTTPError, match=r"HTTP 503: down #3$") as info:
        await _adapter(provider, server.base, retries=2).complete("hi")
    assert str(info.value).startswith("adapter 'ai': ") and len(server.seen) == 3


async def test_a_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = sock.getsockname()[1]
        ai = _adapter("anthropic", f"http://127.0.0.1:{port}", retries=2, retry_base=0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(AdapterError, match="request failed") as info:
            await ai.complete("hi")
        elapsed = loop.time() - started
    assert not isinstance(info.value, AdapterHTTPError | AdapterTimeoutError)
    assert info.value.adapter == "ai"
    assert elapsed >= 0.05 + 0.1  # two backoffs (0.05 s, then 0.1 s) before it gave up


def _adapter(provider: str, base: str, **kw: Any) -> OpenAIAdapter:
    kw.setdefault("retry_base", 0.001)
    if provider == "anthropic":
        adapter: OpenAIAdapter = claude(base, **kw)
    elif provider == "gemini":
        adapter = gemini(base, **kw)
    else:
        adapter = OpenAIAdapter("ai", base_url=base, model="m", environ={}, **kw)
    adapter.name = "ai"
    return adapter
