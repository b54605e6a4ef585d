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


def node_running(cfg: GatewayConfig) -> bool:
    """Whether a node runs with ``cfg``'s state directory (so commands go through its API)."""
    try:
        read_runtime(StatePaths(cfg.node.state_dir))
    except StateError:
        return False
    return True


async def _request(
    endpoint: str, token: str, method: str, path: str, body: Any, timeout: float
) -> Any:
    if endpoint.startswith("unix:"):
        connector: aiohttp.BaseConnector = aiohttp.UnixConnector(path=endpoint[len("unix:") :])
        base = "http://localhost"
    else:
        connector, base = aiohttp.TCPConnector(), endpoint
    headers = {"Authorization": f"Bearer {token}"}
    limit = aiohttp.ClientTimeout(timeout)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=limit) as http,
            http.request(method, base + path, json=body, headers=headers) as resp,
        ):
            data = await resp.json()
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise ApiError(f"the node's API at {endpoint} did not answer: {exc}") from exc
    if resp.status >= 400:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        raise ApiError(f"{error.get('code', resp.status)}: {error.get('message', '')}")
    return data
