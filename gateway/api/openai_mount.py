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
    from gateway.api.openai_compat import Handler

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
        self._handlers: dict[tuple[str, str], Handler] | None = None

    def add_to(self, app: web.Application) -> None:
        for method, path in ROUTES:
            app.router.add_route(method, path, self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._handlers is None:
            from gateway.api.openai_compat import OpenAIRoutes

            routes = OpenAIRoutes(self.rounds, self.book).routes()
            self._handlers = {(method, path): handler for method, path, handler in routes}
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else request.path
        handler = self._handlers.get((request.method, path))
        if handler is None:
            raise web.HTTPNotFound()
        return await handler(request)
