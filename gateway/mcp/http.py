"""The MCP server over streamable HTTP: on loopback, or on a unix socket (mode 0600),
behind the node's API token either way.

Every request must carry ``Authorization: Bearer <token>`` (the token in
``<state>/api.token``, compared in constant time); anything else gets 401 before the MCP
layer sees it. The endpoint is ``http://127.0.0.1:PORT/mcp``, or path ``/mcp`` on the
socket (at PARANOID, where the node's own API is a unix socket too).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

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


#: Host headers a client of the unix socket may send (DNS-rebinding protection stays on)
UNIX_HOSTS = ["localhost", "127.0.0.1", "localhost:*", "127.0.0.1:*"]


def http_app(server: MCPServer, token: str, *, unix: bool = False) -> App:
    """The streamable-HTTP app of ``server`` behind the token."""
    security = None
    if unix:
        origins = ["http://localhost", "http://127.0.0.1", "http://localhost:*", "http://127.0.0.1:*"]
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=UNIX_HOSTS, allowed_origins=origins
        )
    app: App = server.streamable_http_app(
        streamable_http_path=PATH, host="127.0.0.1", transport_security=security
    )
    return require_token(app, token)


def unix_listener(path: Path) -> socket.socket:
    """A listening unix socket at ``path``, mode 0600 from the start (a stale one replaced)."""
    if path.is_socket():
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return sock


def tcp_listener(host: str, port: int) -> socket.socket:
    check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def serve_http(
    server: MCPServer,
    token: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    unix: Path | None = None,
    on_ready: Callable[[str], None] = lambda url: None,
) -> None:
    """Serve until stopped (SIGINT/SIGTERM); ``on_ready`` gets where, once it listens."""
    sock = unix_listener(unix) if unix is not None else tcp_listener(host, port)
    sock.listen(64)
    sock.setblocking(False)
    if unix is not None:
        where = f"unix:{unix} (path {PATH})"
    else:
        shown = f"[{host}]" if ":" in host else host
        where = f"http://{shown}:{sock.getsockname()[1]}{PATH}"
    app = http_app(server, token, unix=unix is not None)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    on_ready(where)
    await uvicorn.Server(config).serve(sockets=[sock])  # a stale socket: replaced next start
