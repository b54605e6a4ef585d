"""The openai adapter against an OpenAI-compatible server started on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from gateway.converge.adapters.openai import OpenAIAdapter, completions_url, is_loopback
from gateway.errors import AdapterError, AdapterOutputError, AdapterTimeoutError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    """An aiohttp app on 127.0.0.1 whose handler each test sets; it records requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.handler: Handler = self.ok

    async def ok(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": "42"}}]})

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.path, dict(request.headers), json.loads(body or b"null")))
        return await self.handler(request)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    srv = Server()
    app = web.Application()
    app.router.add_post("/{tail:.*}", srv.dispatch)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield srv, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def adapter(base: str, **kwargs: Any) -> OpenAIAdapter:
    kwargs.setdefault("environ", {"TEST_AI_KEY": "sk-test-123"})
    return OpenAIAdapter("llm", base_url=base, model="tiny-model", **kwargs)


async def test_request_shape_and_answer(server: tuple[Server, str]) -> None:
    srv, base = server
    ai = adapter(base + "/v1", api_key_env="TEST_AI_KEY", system_prompt="be brief", temperature=0.0)
    assert await ai.complete("What is 6*7?") == "42"
    path, headers, body = srv.requests[0]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test-123"
    assert body == {
        "model": "tiny-model",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "What is 6*7?"},
        ],
        "stream": False,
        "temperature": 0.0,
    }


async def test_no_key_env_means_no_authorization_header(server: tuple[Server, str]) -> None:
    srv, base = server
    assert await adapter(base).complete("hi") == "42"
    assert "Authorization" not in srv.requests[0][1]
    assert srv.requests[0][0] == "/v1/chat/completions"


async def test_missing_env_var_is_a_typed_error(server: tuple[Server, str]) -> None:
    srv, base = server
    ai = adapter(base, api_key_env="NOT_SET_ANYWHERE", environ={})
    with pytest.raises(AdapterError, match="NOT_SET_ANYWHERE"):
        await ai.complete("hi")
    assert srv.requests == []


async def test_http_500_is_an_adapter_error(server: tuple[Server, str]) -> None:
    srv, base = server

    async def fail(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="model exploded")

    srv.handler = fail
    with pytest.raises(AdapterError, match="HTTP 500: model exploded"):
        await adapter(base).complete("hi")


@pytest.mark.parametrize(
    "payload",
    [
        "not json at all",
        json.dumps({"id": "x"}),
        json.dumps({"choices": []}),
        json.dumps({"choices": [{"message": {}}]}),
        json.dumps({"choices": [{"message": {"content": None}}]}),
        json.dumps([1, 2]),
    ],
)
async def test_malformed_responses_are_output_errors(
    server: tuple[Server, str], payload: str
) -> None:
    srv, base = server

    async def weird(request: web.Request) -> web.StreamResponse:
        return web.Response(text=payload, content_type="application/json")

    srv.handler = weird
    with pytest.raises(AdapterOutputError):
        await adapter(base).complete("hi")


async def test_slow_server_times_out(server: tuple[Server, str]) -> None:
    srv, base = server

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response({})

    srv.handler = slow
    with pytest.raises(AdapterTimeoutError):
        await adapter(base, timeout=0.3).complete("hi")


async def test_oversized_content_and_body_are_refused(server: tuple[Server, str]) -> None:
    srv, base = server

    async def big(request: web.Request) -> web.StreamResponse:
        return web.json_response({"choices": [{"message": {"content": "x" * 5000}}]})

    srv.handler = big
    with pytest.raises(AdapterOutputError, match="over 1000 bytes"):
        await adapter(base, max_output_bytes=1000).complete("hi")

    async def huge(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"y" * 2_000_000)

    srv.handler = huge
    with pytest.raises(AdapterOutputError, match="response body"):
        await adapter(base, max_output_bytes=1000).complete("hi")


async def test_connection_refused_is_an_adapter_error() -> None:
    with pytest.raises(AdapterError, match="request failed"):
        await adapter("http://127.0.0.1:9").complete("hi")


def test_non_loopback_endpoint_needs_the_tor_proxy() -> None:
    with pytest.raises(AdapterError, match="through tor"):
        adapter("https://api.example.com/v1")
    assert adapter("https://api.example.com/v1", socks_proxy="socks5://127.0.0.1:9050").socks_proxy
    assert adapter("http://localhost:8080", socks_proxy="socks5://127.0.0.1:9").socks_proxy is None
    with pytest.raises(AdapterError, match="http"):
        adapter("ftp://127.0.0.1/")


def test_helpers() -> None:
    assert completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert all(is_loopback(h) for h in ("localhost", "127.0.0.5", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("example.com", "10.0.0.1", "abc.onion"))


# --- through a SOCKS5 proxy (a tiny one, standing in for tor) ----------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def test_remote_endpoint_goes_through_socks_with_remote_dns(
    server: tuple[Server, str],
) -> None:
    srv, base = server
    target_port = int(base.rsplit(":", 1)[1])
    asked: list[tuple[int, bytes, int]] = []

    async def socks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _ver, n = await reader.readexactly(2)
        await reader.readexactly(n)
        writer.write(b"\x05\x00")
        _, _, _, atyp = await reader.readexactly(4)
        if atyp == 3:
            (length,) = await reader.readexactly(1)
            host = await reader.readexactly(length)
        else:
            host = await reader.readexactly(4 if atyp == 1 else 16)
        port = int.from_bytes(await reader.readexactly(2), "big")
        asked.append((atyp, host, port))
        up_r, up_w = await asyncio.open_connection("127.0.0.1", target_port)
        writer.write(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
        await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))

    proxy = await asyncio.start_server(socks, "127.0.0.1", 0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    try:
        ai = adapter(
            "http://someaiservice.onion:8080/v1", socks_proxy=f"socks5://127.0.0.1:{proxy_port}"
        )
        assert await ai.complete("hi") == "42"
    finally:
        proxy.close()
        await proxy.wait_closed()
    assert asked == [(3, b"someaiservice.onion", 8080)]  # the name went to the proxy unresolved
    assert srv.requests[0][0] == "/v1/chat/completions"


async def test_unreachable_proxy_is_an_adapter_error() -> None:
    ai = adapter("http://remote.example:80", socks_proxy="socks5://127.0.0.1:9")
    with pytest.raises(AdapterError):
        await ai.complete("hi")
