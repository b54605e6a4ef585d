"""The dashboard: one web page and its static files, served by the local API.

``GET /dashboard`` returns the page and ``GET /dashboard/static/<name>`` its
scripts and style sheet, all from the package data in ``gateway/api/static/``.
These routes hold no secret and are served without the token (the browser
has none yet; they are marked with :func:`~gateway.api.server.mark_public`).
The page asks for the token, keeps it in ``sessionStorage`` and sends it with
every API call (``Authorization: Bearer``) and on the event WebSocket
(subprotocol ``bearer.<token>``). Nothing outside this API can load: every
reply carries a Content-Security-Policy of ``'self'`` only.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable

from aiohttp import web

from gateway.api.replies import json_error
from gateway.api.server import mark_public

PREFIX = "/dashboard"
STATIC_PREFIX = PREFIX + "/static/"
INDEX = "index.html"

#: static names: one plain file name with a known extension (no folders, no dot files)
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.(js|css|svg)")
_TYPES = {
    "html": "text/html",
    "js": "text/javascript",
    "css": "text/css",
    "svg": "image/svg+xml",
}
#: a Host header we are willing to echo into the policy (host name or address, and a port)
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")


def content_security_policy(host: str) -> str:
    """The page's policy: only this origin, and WebSockets back to the same host."""
    ws = f" ws://{host}" if _HOST.fullmatch(host) else " ws:"
    return (
        "default-src 'self'; "
        f"connect-src 'self'{ws}; "
        "img-src 'self' data:; "
        "base-uri 'none'; "
        "form-action 'none'; "
        "frame-ancestors 'none'"
    )


def static_files() -> Traversable:
    """The folder of the page's files inside the installed package."""
    return resources.files("gateway.api").joinpath("static")


class DashboardRoutes:
    """``GET /dashboard`` and ``GET /dashboard/static/{name}`` (no token needed)."""

    def __init__(self, folder: Traversable | None = None) -> None:
        self._folder = folder

    @property
    def folder(self) -> Traversable:
        """The page's files: the package's, looked up with the first request (importlib's
        resource readers, zipfile among them, load then, not with every node)."""
        if self._folder is None:
            self._folder = static_files()
        return self._folder

    def add_to(self, app: web.Application) -> None:
        mark_public(app, PREFIX)
        app.router.add_get(PREFIX, self._index)
        app.router.add_get(PREFIX + "/", self._index)
        app.router.add_get(STATIC_PREFIX + "{name}", self._static)

    async def _index(self, request: web.Request) -> web.Response:
        return self._file(request, INDEX, "html")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        match = _NAME.fullmatch(name)
        if match is None:
            return json_error(404, "not_found", "no such dashboard file")
        return self._file(request, name, match.group(1))

    def _file(self, request: web.Request, name: str, ext: str) -> web.Response:
        item = self.folder.joinpath(name)
        try:
            body = item.read_bytes()
        except OSError:
            return json_error(404, "not_found", "no such dashboard file")
        response = web.Response(body=body, content_type=_TYPES[ext], charset="utf-8")
        headers = response.headers
        headers["Content-Security-Policy"] = content_security_policy(request.host)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-store"
        headers["X-Frame-Options"] = "DENY"
        return response
