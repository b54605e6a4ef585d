"""The MCP server's client of the running node's local API (async, TCP or unix socket)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from gateway.api.client import connect, request
from gateway.errors import ApiError

#: a round can take minutes: how long one follow stream may stay open
FOLLOW_TIMEOUT = 3600.0


@dataclass(frozen=True)
class NodeApi:
    """Where the node's API is and the token it wants."""

    endpoint: str
    token: str

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        return await request(self.endpoint, self.token, method, path, body)

    async def get(self, path: str, **query: object) -> Any:
        """GET ``path`` with a query (None values left out; a list repeats its name)."""
        args = {
            k: [str(x) for x in v] if isinstance(v, list | tuple) else str(v)
            for k, v in query.items()
            if v is not None
        }
        return await self.call("GET", path + (f"?{urlencode(args, doseq=True)}" if args else ""))

    async def follow(self, round_id: str) -> AsyncIterator[dict[str, Any]]:
        """The round's view now and at each change, until it is over (NDJSON)."""
        connector, base = connect(self.endpoint)
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{base}/api/v1/rounds/{quote(round_id, safe='')}/follow"
        limit = aiohttp.ClientTimeout(total=FOLLOW_TIMEOUT)
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=limit) as http,
                http.get(url, headers=headers) as resp,
            ):
                if resp.status != 200:
                    data = await resp.json()
                    error = data.get("error", {}) if isinstance(data, dict) else {}
                    raise ApiError(
                        str(error.get("message") or f"HTTP {resp.status}"),
                        api_code=str(error.get("code") or f"http_{resp.status}"),
                    )
                async for line in resp.content:
                    if line.strip():
                        yield json.loads(line)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise ApiError(f"the node's API at {self.endpoint} did not answer: {exc}") from exc
