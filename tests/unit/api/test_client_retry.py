"""The CLI's API client waits and tries again when the node says 429 (rate limited)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.api import client
from gateway.api.replies import json_error
from gateway.errors import ApiError


async def serve(refusals: int) -> tuple[TestServer, list[int]]:
    seen: list[int] = []

    async def handler(_: web.Request) -> web.Response:
        seen.append(1)
        if len(seen) <= refusals:
            response = json_error(429, "rate_limited", "slow down")
            response.headers["Retry-After"] = "0.01"
            return response
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/x", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, seen


async def test_a_429_is_retried_after_retry_after() -> None:
    server, seen = await serve(refusals=3)
    try:
        endpoint = f"http://127.0.0.1:{server.port}"
        assert await client._request(endpoint, "t", "GET", "/x", None, 5.0) == {"ok": True}
        assert len(seen) == 4
    finally:
        await server.close()


async def test_retries_are_bounded() -> None:
    server, seen = await serve(refusals=100)
    try:
        endpoint = f"http://127.0.0.1:{server.port}"
        with pytest.raises(ApiError, match="slow down") as caught:
            await client._request(endpoint, "t", "GET", "/x", None, 5.0)
        assert caught.value.code == "rate_limited"
        assert len(seen) == client.RATE_LIMIT_RETRIES
    finally:
        await server.close()
