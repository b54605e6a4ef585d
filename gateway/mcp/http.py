"""The MCP server over streamable HTTP: 127.0.0.1 only, behind the node's API token.

Every request must carry ``Authorization: Bearer <token>`` (the token in
``<state>/api.token``, compared in constant time); anything else gets 401 before the MCP
layer sees it. The endpoint is ``http://127.0.0.1:PORT/mcp``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer

from gateway.errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
PATH = "/mcp"


def require_token(app: App, token: str) -> App:
    """``app`` behind a bearer-token check (HTTP requests; lifespan events pass)."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            offered = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(offered, expected):
                error = {"code": "unauthorized", "message": "a valid bearer token is required"}
                body = json.dumps({"error": error}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b"Bearer"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def check_loopback(host: str) -> None:
    """ConfigError unless ``host`` is a loopback address."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            None,
            "mcp --host",
            "a loopback address (127.0.0.1 or ::1): the MCP server listens on loopback only",
            host,
        )


def http_app(server: MCPServer, token: str) -> App:
    """The streamable-HTTP app of ``server`` behind the token."""
    app: App = server.streamable_http_app(streamable_http_path=PATH, host="127.0.0.1")
    return require_token(app, token)


async def serve_http(
    server: MCPServer,
    token: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[str], None] = lambda url: None,
) -> None:
    """Serve until stopped (SIGINT/SIGTERM); ``on_ready`` gets the URL once the port listens."""
    check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    sock.setblocking(False)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(http_app(server, token), log_level="warning", lifespan="on")
    on_ready(f"http://{shown}:{sock.getsockname()[1]}{PATH}")
    await uvicorn.Server(config).serve(sockets=[sock])
