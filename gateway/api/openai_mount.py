"""The OpenAI-compatible routes on the local API, with their module loaded at first use.

An idle node carries no code for the council-as-a-model until an OpenAI client calls it
(:mod:`gateway.api.openai_compat` holds the routes and their documentation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from gateway.contacts.book import ContactBook
from gateway.node.rounds import RoundsService

if TYPE_CHECKING:
    from gateway.api.openai_compat import OpenAIRoutes

#: (method, path) of the routes, as :meth:`OpenAIRoutes.routes` lists them
ROUTES = (
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model}"),
    ("POST", "/v1/chat/completions"),
)


class LazyOpenAIRoutes:
    """The OpenAI route set; the real one is made on the first request."""

    def __init__(self, rounds: RoundsService, book: ContactBook) -> None:
        self.rounds, self.book = rounds, book
        self._routes: OpenAIRoutes | None = None

    def add_to(self, app: web.Application) -> None:
        for method, path in ROUTES:
            app.router.add_route(method, path, self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._routes is None:
            from gateway.api.openai_compat import OpenAIRoutes

            self._routes = OpenAIRoutes(self.rounds, self.book)
        route = request.match_info.route.resource
        path = route.canonical if route is not None else request.path
        for method, known, handler in self._routes.routes():
            if (method, known) == (request.method, path):
                return await handler(request)
        raise web.HTTPNotFound()
