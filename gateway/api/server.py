"""The local API server (aiohttp): status, peers, direct messages, and the route sets.

It listens on 127.0.0.1 (a free port), or on ``<state>/api.sock`` (mode 0600)
when the level's ``api_transport`` is ``unix``; any other bind host is refused.
Every request needs ``Authorization: Bearer <token>`` with the token from
``<state>/api.token`` (the event stream also takes it from its ``token`` query
parameter or a ``bearer.<token>`` WebSocket subprotocol, for browsers). Errors
are JSON ``{"error": {"code": ..., "message": ...}}``; clients are rate-limited.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from gateway.api.ratelimit import RateLimit, TokenBuckets, rate_limit_middleware
from gateway.api.replies import json_error, read_json
from gateway.api.status import NodeStatus
from gateway.config.schema import ApiTransport
from gateway.errors import ConfigError, GatewayError
from gateway.link.manager import LinkManager
from gateway.node.inbox import CHANNEL, Inbox, encode_text

log = logging.getLogger("gateway.api")

MAX_BODY = 256 * 1024
DEFAULT_LIMIT = RateLimit()
#: the largest message id (SQLite's INTEGER)
MAX_ID = 2**63 - 1
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: the WebSocket event stream: browsers cannot set headers on it
EVENTS_PATH = "/api/v1/events"
#: a WebSocket subprotocol that carries the token: ``bearer.<token>``
BEARER_PROTOCOL = "bearer."


def offered_tokens(request: web.Request) -> list[str]:
    """The tokens a request offers: the bearer header; for the event stream also the others."""
    header = request.headers.get("Authorization", "")
    offered = [header[len("Bearer ") :]] if header.startswith("Bearer ") else []
    if request.path == EVENTS_PATH:
        offered += request.query.getall("token", [])
        protocols = request.headers.get("Sec-WebSocket-Protocol", "")
        offered += [
            p.strip()[len(BEARER_PROTOCOL) :]
            for p in protocols.split(",")
            if p.strip().startswith(BEARER_PROTOCOL)
        ]
    return offered


def token_ok(request: web.Request, token: str) -> bool:
    """Whether the request offers ``token`` (each offer compared in constant time)."""
    expected = token.encode()
    matches = [hmac.compare_digest(t.encode(), expected) for t in offered_tokens(request)]
    return any(matches)


#: where the OpenAPI document (gateway.api.openapi) is served
OPENAPI_PATH = "/api/v1/openapi.json"
#: path prefixes served without the token (the dashboard's page and static files)
PUBLIC = web.AppKey("public_prefixes", set[str])


def mark_public(app: web.Application, prefix: str) -> None:
    """Serve ``prefix`` and everything under ``prefix/`` without the token (no secrets there)."""
    app.setdefault(PUBLIC, set()).add(prefix.rstrip("/"))


def is_public(request: web.Request) -> bool:
    """Whether the route the request matched (not its raw path) was marked public."""
    resource = request.match_info.route.resource
    if resource is None:
        return False
    path = resource.canonical
    return any(path == p or path.startswith(p + "/") for p in request.app.get(PUBLIC, ()))


def _auth_middleware(token: str) -> Any:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_public(request) and not token_ok(request, token):
            return json_error(401, "unauthorized", "a valid bearer token is required")
        return await handler(request)

    return check


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as a JSON error with a stable code."""
    try:
        return await handler(request)
    except GatewayError as exc:
        return json_error(400, exc.code, str(exc))
    except web.HTTPRequestEntityTooLarge:  # whatever the size: our code and our words
        message = f"the body is over the local API's limit of {MAX_BODY // 1024} KiB"
        return json_error(413, "request_entity_too_large", message)
    except web.HTTPException as exc:  # aiohttp's own 404/405: JSON like the rest
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return json_error(exc.status, code, exc.text or exc.reason)
    except Exception:
        log.exception("local API: %s %s failed", request.method, request.path)
        return json_error(500, "internal", "the node failed to answer (see its log)")


class RouteSet(Protocol):
    """A subsystem's routes (memory, convergence, contacts, events...)."""

    def add_to(self, app: web.Application) -> None: ...


class LocalApi:
    """The API's routes over the node's services."""

    def __init__(
        self,
        links: LinkManager,
        inbox: Inbox,
        status: Callable[[], dict[str, Any]],
        routes: Sequence[RouteSet] = (),
        *,
        node: NodeStatus | None = None,
        limit: RateLimit = DEFAULT_LIMIT,
    ):
        self.links = links
        self.inbox = inbox
        self.status = status
        self.routes = routes
        self.node = node
        self.limit = limit

    def app(self, token: str) -> web.Application:
        middlewares = [
            rate_limit_middleware(TokenBuckets(self.limit)),
            _error_middleware,
            _auth_middleware(token),
        ]
        app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
        app.router.add_get("/api/v1/status", self._status)
        app.router.add_get("/api/v1/peers", self._peers)
        app.router.add_post("/api/v1/messages", self._send)
        app.router.add_get("/api/v1/messages", self._messages)
        app.router.add_get(OPENAPI_PATH, self._openapi)
        for routes in self.routes:
            routes.add_to(app)
        return app

    def status_json(self) -> dict[str, Any]:
        """The node's status: level, tor, bootstrap, onion, and the services' counters."""
        return {
            **(self.node.as_json() if self.node is not None else {}),
            **self.status(),
            "link_counters": dict(self.links.counters),
            "link_opens": list(self.links.opens),
        }

    def peers_json(self) -> list[dict[str, Any]]:
        """Every contact's link, as ``GET /api/v1/peers`` lists them."""
        return [asdict(p) for p in self.links.peers()]

    async def _status(self, _: web.Request) -> web.Response:
        return web.json_response(self.status_json())

    async def _peers(self, _: web.Request) -> web.Response:
        return web.json_response({"peers": self.peers_json()})

    async def _openapi(self, _: web.Request) -> web.Response:
        from gateway.api import openapi  # the document's code loads when it is asked for

        return web.json_response(openapi.document())

    async def _send(self, request: web.Request) -> web.Response:
        try:
            data = await read_json(request)
            to, text = data["to"], data["text"]
        except (ValueError, KeyError, TypeError):
            return json_error(400, "bad_request", 'expected JSON {"to": contact, "text": "..."}')
        if not isinstance(to, str) or not isinstance(text, str):
            return json_error(400, "bad_request", '"to" and "text" must be strings')
        if not text.strip():
            return json_error(400, "bad_request", "an empty message is not sent")
        contact = self.links.book.find(to)
        msg_id = self.links.send(contact.identity, CHANNEL, encode_text(text))
        return web.json_response({"id": msg_id.hex()}, status=202)

    async def _messages(self, request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            after = -1
        if not 0 <= after <= MAX_ID:
            return json_error(400, "bad_request", f"after must be an integer from 0 to {MAX_ID}")
        messages = [
            {"id": m.id, "from": m.contact.hex(), "received": m.received, "text": m.text}
            for m in self.inbox.list(after=after)
        ]
        return web.json_response({"messages": messages})


def check_loopback(host: str, key_path: str = "http.host") -> str:
    """``host`` if it is a loopback address; a :class:`ConfigError` (exit 2) otherwise."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            None,
            key_path,
            "a loopback address for the local API: 127.0.0.1, ::1 or localhost",
            host,
            detail="the local API never listens on other interfaces",
        )
    return host


class ApiServer:
    """Runs the API on loopback TCP or a private unix socket."""

    def __init__(
        self,
        app: web.Application,
        transport: ApiTransport,
        socket_path: Path,
        *,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = check_loopback(host)
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
            tcp = web.TCPSite(self._runner, self.host, 0)
            await tcp.start()
            port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            shown = f"[{self.host}]" if ":" in self.host else self.host
            self.endpoint = f"http://{shown}:{port}"
        return self.endpoint

    async def stop(self) -> None:
        await self._runner.cleanup()
        if self.transport is ApiTransport.UNIX:
            self.socket_path.unlink(missing_ok=True)
