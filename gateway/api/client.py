"""The CLI's client of a running node's local API (found through ``<state>/node.json``)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from gateway.config.schema import GatewayConfig
from gateway.errors import ApiError, StateError
from gateway.node.runtime_file import read_runtime
from gateway.state.keys import load_api_token
from gateway.state.paths import StatePaths


def call(
    cfg: GatewayConfig, method: str, path: str, body: Any = None, *, timeout: float = 30.0
) -> Any:
    """One API request to the node running with ``cfg``; the decoded JSON reply."""
    paths = StatePaths(cfg.node.state_dir)
    info = read_runtime(paths)
    if not info.api:
        raise StateError("the running node has no local API endpoint")
    token = load_api_token(paths)
    return asyncio.run(_request(info.api, token, method, path, body, timeout))


def endpoint_and_token(cfg: GatewayConfig) -> tuple[str, str]:
    """The running node's API endpoint (``http://127.0.0.1:PORT`` or ``unix:PATH``) and token."""
    paths = StatePaths(cfg.node.state_dir)
    info = read_runtime(paths)
    if not info.api:
        raise StateError("the running node has no local API endpoint")
    return info.api, load_api_token(paths)


async def request(
    endpoint: str, token: str, method: str, path: str, body: Any = None, timeout: float = 30.0
) -> Any:
    """One API request from async code (an MCP server, say); ApiError with the API's code."""
    return await _request(endpoint, token, method, path, body, timeout)


def connect(endpoint: str) -> tuple[aiohttp.BaseConnector, str]:
    """A connector for ``endpoint`` and the base URL to put before paths."""
    if endpoint.startswith("unix:"):
        return aiohttp.UnixConnector(path=endpoint[len("unix:") :]), "http://localhost"
    return aiohttp.TCPConnector(), endpoint


def node_running(cfg: GatewayConfig) -> bool:
    """Whether a node runs with ``cfg``'s state directory (so commands go through its API)."""
    try:
        read_runtime(StatePaths(cfg.node.state_dir))
    except StateError:
        return False
    return True


#: how often a request refused with 429 (rate limited) is tried again, and the longest wait
RATE_LIMIT_RETRIES = 8
MAX_RETRY_AFTER = 5.0


async def _request(
    endpoint: str, token: str, method: str, path: str, body: Any, timeout: float
) -> Any:
    """One request; a 429 answer is retried after its Retry-After (a few times)."""
    for _ in range(RATE_LIMIT_RETRIES):
        status, data, retry_after = await _once(endpoint, token, method, path, body, timeout)
        if status != 429:
            break
        await asyncio.sleep(min(retry_after, MAX_RETRY_AFTER))
    if status >= 400:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        code = str(error.get("code") or f"http_{status}")
        raise ApiError(str(error.get("message", "") or f"HTTP {status}"), api_code=code)
    return data


async def _once(
    endpoint: str, token: str, method: str, path: str, body: Any, timeout: float
) -> tuple[int, Any, float]:
    """(status, decoded JSON, Retry-After seconds) of one request."""
    connector, base = connect(endpoint)
    headers = {"Authorization": f"Bearer {token}"}
    limit = aiohttp.ClientTimeout(timeout)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=limit) as http,
            http.request(method, base + path, json=body, headers=headers) as resp,
        ):
            data = await resp.json()
            try:
                retry_after = float(resp.headers.get("Retry-After", "1"))
            except ValueError:
                retry_after = 1.0
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise ApiError(f"the node's API at {endpoint} did not answer: {exc}") from exc
    return resp.status, data, max(0.05, retry_after)
