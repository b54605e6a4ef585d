"""The openai adapter against a real OpenAI-compatible HTTP server started on 127.0.0.1.

Covers the request shape (``stream: false``), the headers, the API key taken
from the environment, HTTP errors, malformed and oversized responses,
timeouts, refused redirects and encodings, and the SOCKS path (remote DNS).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from gateway.converge.adapters.config import OpenAIAdapterConfig, parse_ai_config
from gateway.converge.adapters.factory import build_adapter
from gateway.converge.adapters.openai import OpenAIAdapter, completions_url, is_loopback
from gateway.errors import (
    AdapterError,
    AdapterHTTPError,
    AdapterOutputError,
    AdapterTimeoutError,
    ConfigError,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
KEY = "sk-test-0123456789abcdef"


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def answer(content: object = "42") -> dict[str, Any]:
    """A minimal chat-completions response."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }


class Server:
    """An aiohttp app on 127.0.0.1 whose handler each test sets; it records requests."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.handler: Handler = self.ok
        self.base = ""

    async def ok(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(answer())

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path, dict(request.headers), body))
        return await self.handler(request)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", srv.dispatch)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield srv
    finally:
        await runner.cleanup()


def make(base: str, **kwargs: Any) -> OpenAIAdapter:
    kwargs.setdefault("environ", {})
    return OpenAIAdapter("llm", base_url=base + "/v1", model="tiny-model", **kwargs)


def respond_with(srv: Server, handler: Handler) -> None:
    srv.handler = handler


# --- request shape and headers -------------------------------------------------------------------


async def test_request_shape_with_every_option(server: Server) -> None:
    ai = make(
        server.base,
        environ={"TEST_AI_KEY": KEY},
        api_key_env="TEST_AI_KEY",
        system_prompt="Answer briefly.",
        temperature=0.25,
        max_tokens=64,
    )
    assert await ai.complete("What is 6*7?") == "42"
    (seen,) = server.seen
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    body = seen.json()
    assert body == {
        "model": "tiny-model",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is 6*7?"},
        ],
        "stream": False,
        "temperature": 0.25,
        "max_tokens": 64,
    }
    assert body["stream"] is False  # a JSON false, not a missing key or 0
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["Accept-Encoding"] == "identity"
    assert seen.headers["Authorization"] == f"Bearer {KEY}"


async def test_minimal_request_has_only_model_messages_stream(server: Server) -> None:
    assert await make(server.base).complete("héllo ✓") == "42"
    (seen,) = server.seen
    assert seen.json() == {
        "model": "tiny-model",
        "messages": [{"role": "user", "content": "héllo ✓"}],
        "stream": False,
    }
    assert "Authorization" not in seen.headers
    assert "Cookie" not in seen.headers


@pytest.mark.parametrize("base_suffix", ["", "/", "/v1", "/v1/"])
async def test_base_url_with_or_without_v1(server: Server, base_suffix: str) -> None:
    ai = OpenAIAdapter("llm", base_url=server.base + base_suffix, model="m", environ={})
    assert await ai.complete("hi") == "42"
    assert server.seen[0].path == "/v1/chat/completions"


async def test_api_key_is_read_from_the_process_environment(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_TEST_OPENAI_KEY", KEY)
    ai = OpenAIAdapter(
        "llm", base_url=server.base, model="m", api_key_env="GATEWAY_TEST_OPENAI_KEY"
    )
    assert await ai.complete("hi") == "42"
    monkeypatch.setenv("GATEWAY_TEST_OPENAI_KEY", "sk-rotated")
    assert await ai.complete("hi") == "42"  # read at each request, so a rotated key is used
    assert [s.headers["Authorization"] for s in server.seen] == [
        f"Bearer {KEY}",
        "Bearer sk-rotated",
    ]


async def test_yaml_config_names_the_variable_and_the_factory_reads_it(server: Server) -> None:
    cfg = parse_ai_config(
        {
            "adapters": [
                {
                    "name": "local",
                    "kind": "openai",
                    "base_url": server.base + "/v1",
                    "model": "m",
                    "api_key_env": "MY_KEY",
                    "max_tokens": 8,
                }
            ]
        }
    )
    (local,) = cfg.adapters
    assert isinstance(local, OpenAIAdapterConfig)
    assert await build_adapter(local, environ={"MY_KEY": KEY}).complete("hi") == "42"
    assert server.seen[0].headers["Authorization"] == f"Bearer {KEY}"
    assert server.seen[0].json()["max_tokens"] == 8
    with pytest.raises(ConfigError, match="api_key_env"):
        parse_ai_config({"adapters": [{**cfg_dict(server), "api_key": KEY}]})


def cfg_dict(srv: Server) -> dict[str, Any]:
    return {"name": "x", "kind": "openai", "base_url": srv.base, "model": "m"}


@pytest.mark.parametrize("environ", [{}, {"MY_KEY": ""}, {"MY_KEY": "   "}])
async def test_missing_key_is_a_clear_error_and_nothing_is_sent(
    server: Server, environ: dict[str, str]
) -> None:
    ai = make(server.base, api_key_env="MY_KEY", environ=environ)
    with pytest.raises(AdapterError, match="environment variable MY_KEY") as info:
        await ai.complete("hi")
    assert type(info.value) is AdapterError and info.value.adapter == "llm"
    assert server.seen == []


@pytest.mark.parametrize("bad", ["sk-a\r\nX-Evil: 1", "sk a", "sk-\x00", "sk-ключ"])
async def test_key_that_cannot_go_in_a_header_is_refused_unsent(server: Server, bad: str) -> None:
    ai = make(server.base, api_key_env="MY_KEY", environ={"MY_KEY": bad})
    with pytest.raises(AdapterError, match="MY_KEY") as info:
        await ai.complete("hi")
    assert bad not in str(info.value)
    assert server.seen == []


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503])
async def test_http_error_statuses_are_typed(server: Server, status: int) -> None:
    async def fail(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": {"message": f"nope {status}"}}, status=status)

    respond_with(server, fail)
    ai = make(server.base, api_key_env="K", environ={"K": KEY})
    with pytest.raises(AdapterHTTPError) as info:
        await ai.complete("hi")
    assert info.value.status == status
    assert f"HTTP {status}" in str(info.value) and f"nope {status}" in str(info.value)
    assert KEY not in str(info.value)


async def test_error_body_is_cut_and_cleaned(server: Server) -> None:
    async def noisy(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="\x1b[31m" + "e" * 5000 + "\nEND")

    respond_with(server, noisy)
    with pytest.raises(AdapterHTTPError) as info:
        await make(server.base).complete("hi")
    message = str(info.value)
    assert message.endswith("END") and len(message) < 400
    assert "\x1b" not in message and "\n" not in message


async def test_redirect_is_not_followed(server: Server) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        if request.path == "/elsewhere":
            return web.json_response(answer("followed"))
        raise web.HTTPFound(location=server.base + "/elsewhere")

    respond_with(server, redirect)
    with pytest.raises(AdapterHTTPError) as info:
        await make(server.base).complete("hi")
    assert info.value.status == 302
    assert [s.path for s in server.seen] == ["/v1/chat/completions"]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json at all",
        b"\xff\xfe\x00garbage",
        b"[" * 100_000,
        b"",
        json.dumps({"id": "x"}).encode(),
        json.dumps({"choices": []}).encode(),
        json.dumps({"choices": [{}]}).encode(),
        json.dumps({"choices": [{"message": {}}]}).encode(),
        json.dumps(answer(None)).encode(),
        json.dumps(answer(["a", "list"])).encode(),
        json.dumps([1, 2]).encode(),
        json.dumps("just a string").encode(),
    ],
)
async def test_malformed_responses_are_output_errors(server: Server, payload: bytes) -> None:
    async def weird(request: web.Request) -> web.StreamResponse:
        return web.Response(body=payload, content_type="application/json")

    respond_with(server, weird)
    with pytest.raises(AdapterOutputError):
        await make(server.base, max_output_bytes=64 * 1024).complete("hi")


async def test_connection_refused_is_an_adapter_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AdapterError, match="request failed") as info:
        await make(f"http://127.0.0.1:{port}").complete("hi")
    assert not isinstance(info.value, AdapterHTTPError | AdapterTimeoutError)


# --- timeouts ------------------------------------------------------------------------------------


async def test_no_response_in_time_is_a_timeout(server: Server) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(10)
        return web.json_response(answer())

    respond_with(server, slow)
    with pytest.raises(AdapterTimeoutError, match=r"0\.3 s"):
        await make(server.base, timeout=0.3).complete("hi")


async def test_body_that_stalls_after_the_headers_is_a_timeout(server: Server) -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"choices": [')
        await asyncio.sleep(10)
        return resp

    respond_with(server, stall)
    with pytest.raises(AdapterTimeoutError):
        await make(server.base, timeout=0.3).complete("hi")


# --- size limits and encodings -------------------------------------------------------------------


async def test_content_over_the_output_limit(server: Server) -> None:
    async def big(request: web.Request) -> web.StreamResponse:
        return web.json_response(answer("é" * 600))  # 1200 bytes of UTF-8

    respond_with(server, big)
    with pytest.raises(AdapterOutputError, match="over 1000 bytes"):
        await make(server.base, max_output_bytes=1000).complete("hi")
    assert await make(server.base, max_output_bytes=1200).complete("hi") == "é" * 600


async def test_oversized_body_with_content_length_is_refused(server: Server) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"y" * 2_000_000)

    respond_with(server, huge)
    ai = make(server.base, max_output_bytes=1000)
    with pytest.raises(AdapterOutputError, match=f"over {ai.max_body_bytes} bytes"):
        await ai.complete("hi")


async def test_endless_chunked_body_is_cut_off(server: Server) -> None:
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(10_000):
                await resp.write(b" " * 4096)
                sent += 4096
        return resp

    respond_with(server, endless)
    ai = make(server.base, max_output_bytes=1000, timeout=10)
    with pytest.raises(AdapterOutputError, match="response body is over"):
        await ai.complete("hi")
    assert sent < 10_000 * 4096  # the client hung up long before the end


async def test_compressed_response_is_refused(server: Server) -> None:
    async def zipped(request: web.Request) -> web.StreamResponse:
        data = gzip.compress(json.dumps(answer("x" * 100_000)).encode())
        return web.Response(
            body=data, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    respond_with(server, zipped)
    with pytest.raises(AdapterOutputError, match="gzip"):
        await make(server.base, max_output_bytes=1000).complete("hi")


# --- direct vs. through tor ----------------------------------------------------------------------


def test_loopback_is_direct_and_anything_else_needs_the_proxy() -> None:
    proxy = "socks5://127.0.0.1:9050"
    for url in ("http://127.0.0.1:8080", "http://[::1]:8080/v1", "http://localhost:1"):
        ai = OpenAIAdapter("a", base_url=url, model="m", socks_proxy=proxy)
        assert ai.loopback and ai.socks_proxy is None
    for url in ("https://api.example.com/v1", "http://10.0.0.1:8080", "http://x.onion"):
        with pytest.raises(AdapterError, match="through tor"):
            OpenAIAdapter("a", base_url=url, model="m")
        ai = OpenAIAdapter("a", base_url=url, model="m", socks_proxy=proxy)
        assert not ai.loopback and ai.socks_proxy == proxy
    with pytest.raises(AdapterError, match="http"):
        OpenAIAdapter("a", base_url="ftp://127.0.0.1/", model="m")


def test_helpers() -> None:
    assert completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert completions_url("http://h:1/api") == "http://h:1/api/v1/chat/completions"
    assert all(is_loopback(h) for h in ("localhost", "LOCALHOST.", "a.localhost", "127.0.0.5"))
    assert all(is_loopback(h) for h in ("::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("example.com", "10.0.0.1", "abc.onion", "localhost.x"))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class Socks5:
    """A minimal SOCKS5 proxy (no auth, CONNECT only) standing in for tor; it records targets."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.asked: list[tuple[int, bytes, int]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, nmethods = await reader.readexactly(2)
        await reader.readexactly(nmethods)
        writer.write(b"\x05\x00")
        _, _, _, atyp = await reader.readexactly(4)
        if atyp == 3:
            host = await reader.readexactly((await reader.readexactly(1))[0])
        else:
            host = await reader.readexactly(4 if atyp == 1 else 16)
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.asked.append((atyp, host, port))
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))


async def test_remote_endpoint_goes_through_socks_with_remote_dns(server: Server) -> None:
    socks = Socks5(int(server.base.rsplit(":", 1)[1]))
    proxy = await asyncio.start_server(socks.serve, "127.0.0.1", 0)
    proxy_url = f"socks5://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
    try:
        ai = OpenAIAdapter(
            "remote",
            base_url="http://someaiservice.onion:8080/v1",
            model="m",
            api_key_env="K",
            environ={"K": KEY},
            socks_proxy=proxy_url,
        )
        assert await ai.complete("hi") == "42"
    finally:
        proxy.close()
        await proxy.wait_closed()
    assert socks.asked == [(3, b"someaiservice.onion", 8080)]  # the name, unresolved
    assert server.seen[0].path == "/v1/chat/completions"
    assert server.seen[0].headers["Authorization"] == f"Bearer {KEY}"


async def test_unreachable_or_bad_proxy_is_an_adapter_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for proxy in (f"socks5://127.0.0.1:{port}", "gopher://127.0.0.1:1"):
        ai = OpenAIAdapter("r", base_url="http://remote.example", model="m", socks_proxy=proxy)
        with pytest.raises(AdapterError):
            await ai.complete("hi")
