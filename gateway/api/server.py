"""The local API server (aiohttp): status, peers, direct messages.

It listens on 127.0.0.1 (a free port), or on ``<state>/api.sock`` (mode 0600)
when the level's ``api_transport`` is ``unix``. Every request needs
``Authorization: Bearer <token>`` with the token from ``<state>/api.token``.
Errors are JSON ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from gateway.api.replies import json_error
from gateway.config.schema import ApiTransport
from gateway.errors import GatewayError
from gateway.link.manager import LinkManager
from gateway.node.inbox import CHANNEL, Inbox, encode_text

MAX_BODY = 256 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _auth_middleware(token: str) -> Any:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return json_error(401, "unauthorized", "a valid bearer token is required")
        try:
            return await handler(request)
        except GatewayError as exc:
            return json_error(400, type(exc).__name__, str(exc))
        except web.HTTPException as exc:  # aiohttp's own 404/405/413: JSON like the rest
            if exc.status < 400:
                raise
            code = exc.reason.lower().replace(" ", "_")
            return json_error(exc.status, code, exc.text or exc.reason)

    return check


class RouteSet(Protocol):
    """A subsystem's routes (memory, convergence)."""

    def add_to(self, app: web.Application) -> None: ...


class LocalApi:
    """The API's routes over the node's services."""

    def __init__(
        self,
        links: LinkManager,
        inbox: Inbox,
        status: Callable[[], dict[str, Any]],
        routes: Sequence[RouteSet] = (),
    ):
        self.links = links
        self.inbox = inbox
        self.status = status
        self.routes = routes

    def app(self, token: str) -> web.Application:
        app = web.Application(middlewares=[_auth_middleware(token)], client_max_size=MAX_BODY)
        app.router.add_get("/api/v1/status", self._status)
        app.router.add_get("/api/v1/peers", self._peers)
        app.router.add_post("/api/v1/messages", self._send)
        app.router.add_get("/api/v1/messages", self._messages)
        for routes in self.routes:
            routes.add_to(app)
        return app

    async def _status(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                **self.status(),
                "link_counters": dict(self.links.counters),
                "link_opens": list(self.links.opens),
            }
        )

    async def _peers(self, _: web.Request) -> web.Response:
        return web.json_response({"peers": [asdict(p) for p in self.links.peers()]})

    async def _send(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            to, text = data["to"], data["text"]
        except (ValueError, KeyError, TypeError):
            return json_error(400, "bad_request", 'expected JSON {"to": contact, "text": "..."}')
        if not isinstance(to, str) or not isinstance(text, str):
            return json_error(400, "bad_request", '"to" and "text" must be strings')
        contact = self.links.book.find(to)
        msg_id = self.links.send(contact.identity, CHANNEL, encode_text(text))
        return web.json_response({"id": msg_id.hex()}, status=202)

    async def _messages(self, request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return json_error(400, "bad_request", "after must be an integer")
        messages = [
            {"id": m.id, "from": m.contact.hex(), "received": m.received, "text": m.text}
            for m in self.inbox.list(after=after)
        ]
        return web.json_response({"messages": messages})


class ApiServer:
    """Runs the API on loopback TCP or a private unix socket."""

    def __init__(self, app: web.Application, transport: ApiTransport, socket_path: Path) -> None:
        self.app = app
        self.transport = transport
        self.socket_path = socket_path
        self._runner = web.AppRunner(app, access_log=None)
        self.endpoint = ""

    async def start(self) -> str:
        """Listen; the endpoint (``http://127.0.0.1:PORT`` or ``unix:PATH``)."""
        await self._runner.setup()
        if self.transport is ApiTransport.UNIX:
            self.socket_path.unlink(missing_ok=True)
            old = os.umask(0o177)
            try:
                site: web.BaseSite = web.UnixSite(self._runner, str(self.socket_path))
                await site.start()
            finally:
                os.umask(old)
            os.chmod(self.socket_path, 0o600)
            self.endpoint = f"unix:{self.socket_path}"
        else:
            tcp = web.TCPSite(self._runner, "127.0.0.1", 0)
            await tcp.start()
            port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.endpoint = f"http://127.0.0.1:{port}"
        return self.endpoint

    async def stop(self) -> None:
        await self._runner.cleanup()
        if self.transport is ApiTransport.UNIX:
            self.socket_path.unlink(missing_ok=True)
