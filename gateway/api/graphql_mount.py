"""``/graphql`` on the local API, with strawberry imported at the first query.

strawberry and graphql-core add about 20 MB to a process; most nodes never get a GraphQL
query, so the route is mounted at once and the schema (:mod:`gateway.api.graphql_routes`)
is built when the first request comes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from gateway.contacts.book import ContactBook
from gateway.node.memops import MemoryService
from gateway.node.rounds import RoundsService

if TYPE_CHECKING:
    from gateway.api.graphql_routes import GraphQLRoutes

PATH = "/graphql"


class LazyGraphQLRoutes:
    """The ``/graphql`` route set; the real one is made on first use."""

    def __init__(self, book: ContactBook, memory: MemoryService, rounds: RoundsService) -> None:
        self.book, self.memory, self.rounds = book, memory, rounds
        self._routes: GraphQLRoutes | None = None

    def add_to(self, app: web.Application) -> None:
        app.router.add_route("GET", PATH, self._handle)
        app.router.add_route("POST", PATH, self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._routes is None:
            from gateway.api.graphql_routes import GraphQLRoutes

            self._routes = GraphQLRoutes(self.book, self.memory, self.rounds)
        return await self._routes.handle(request)
