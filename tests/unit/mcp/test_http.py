"""``gateway mcp --http``: streamable HTTP on loopback behind the node's API token.

The command runs as a subprocess against a node's real local API (the full app over real
services, on 127.0.0.1); the ``mcp`` SDK's client talks to it with and without the token.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from aiohttp.test_utils import TestServer
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateway.node.runtime_file import remove_runtime, this_process, write_runtime
from tests.unit.api.nodeapp import NodeApp


@pytest.fixture
async def mcp_url(node: NodeApp) -> AsyncIterator[str]:
    async with TestServer(node.app, host="127.0.0.1") as api:
        endpoint = str(api.make_url("")).rstrip("/")
        write_runtime(node.paths, this_process("x" * 56, None, endpoint))
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(node.cfg.source), "mcp", "--http"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = await asyncio.to_thread(proc.stdout.readline)
            url = line.split()[0]
            assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp"), line
            yield url
        finally:
            proc.terminate()
            proc.wait(10)
            remove_runtime(node.paths)


async def test_the_sdk_client_works_with_the_token(mcp_url: str, node: NodeApp) -> None:
    headers = {"Authorization": f"Bearer {node.token}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(mcp_url, http_client=http)) as client,
    ):
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "council_ask" in tools and "memory_put" in tools
        put = await client.call_tool("memory_put", {"text": "over streamable HTTP"})
        assert not put.is_error
        found = await client.call_tool("memory_search", {"query": "streamable"})
        assert "over streamable HTTP" in found.content[0].text


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_without_the_token_every_request_is_401(
    mcp_url: str, token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx2.AsyncClient(headers=headers) as http:
        for method in ("POST", "GET", "DELETE"):
            resp = await http.request(method, mcp_url, json=body if method == "POST" else None)
            assert resp.status_code == 401, method
            assert resp.json()["error"]["code"] == "unauthorized"


def test_a_host_that_is_not_loopback_is_refused(node: NodeApp, tmp_path: Path) -> None:
    write_runtime(node.paths, this_process("x" * 56, None, "http://127.0.0.1:9"))
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(node.cfg.source), "mcp", "--http",
         "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "loopback" in done.stderr, done.stderr


async def test_streamable_http_on_a_0600_unix_socket(node: NodeApp, tmp_path: Path) -> None:
    """At PARANOID nothing of the node listens on TCP: ``--socket`` serves MCP on a unix
    socket (mode 0600), still behind the token."""
    import os
    import stat

    sock = tmp_path / "mcp.sock"
    async with TestServer(node.app, host="127.0.0.1") as api:
        write_runtime(node.paths, this_process("x" * 56, None, str(api.make_url("")).rstrip("/")))
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(node.cfg.source), "mcp", "--http",
             "--socket", str(sock)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line.startswith(f"unix:{sock}"), line
            assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
            headers = {"Authorization": f"Bearer {node.token}"}
            transport = httpx2.AsyncHTTPTransport(uds=str(sock))
            async with (
                httpx2.AsyncClient(headers=headers, transport=transport) as http,
                Client(streamable_http_client("http://127.0.0.1/mcp", http_client=http)) as client,
            ):
                assert "council_ask" in {t.name for t in (await client.list_tools()).tools}
            bare = httpx2.AsyncHTTPTransport(uds=str(sock))
            async with httpx2.AsyncClient(transport=bare) as anonymous:
                resp = await anonymous.post("http://127.0.0.1/mcp", json={"jsonrpc": "2.0"})
                assert resp.status_code == 401
        finally:
            proc.terminate()
            proc.wait(10)
            remove_runtime(node.paths)
    assert sock.is_socket()  # left behind by a signalled exit: the next start replaces it
