"""The local API's circle routes, with their module and the circle service made at first use.

A node without circles carries no circle code until the API is asked about circles
(:mod:`gateway.api.circle_routes` holds the routes, :class:`~gateway.node.lazycircles.LazyCircles`
makes the service).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.node.lazycircles import LazyCircles

#: :data:`gateway.api.circle_routes.PREFIX`
PREFIX = "/api/v1/circles"
#: (method, path) of the routes, as :meth:`CircleRoutes.add_to` adds them
ROUTES = (
    ("GET", PREFIX),
    ("POST", PREFIX),
    ("GET", PREFIX + "/{circle}"),
    ("POST", PREFIX + "/{circle}/join"),
    ("POST", PREFIX + "/{circle}/invite"),
    ("POST", PREFIX + "/{circle}/proposals"),
    ("GET", PREFIX + "/{circle}/log"),
    ("POST", PREFIX + "/{circle}/echo"),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LazyCircleRoutes:
    """The circle route set; the real one (and the circle service) is made on the first request.

    ``find_contact`` and ``resolve_entry`` are :class:`~gateway.api.circle_routes.CircleRoutes`'s.
    """

    def __init__(
        self,
        circles: LazyCircles,
        find_contact: Callable[[str], bytes],
        resolve_entry: Callable[[str], bytes],
    ) -> None:
        self.circles = circles
        self.find_contact = find_contact
        self.resolve_entry = resolve_entry
        self._handlers: dict[tuple[str, str], Handler] | None = None

    def add_to(self, app: web.Application) -> None:
        for method, path in ROUTES:
            if method == "GET":
                app.router.add_get(path, self._handle)  # and HEAD, as add_get does there
            else:
                app.router.add_route(method, path, self._handle)

    def handlers(self) -> dict[tuple[str, str], Handler]:
        """(method, path) -> the real route's handler (made on the first call)."""
        if self._handlers is None:
            from gateway.api.circle_routes import CircleRoutes

            real = web.Application()
            CircleRoutes(self.circles.get(), self.find_contact, self.resolve_entry).add_to(real)
            self._handlers = {
                (route.method, route.resource.canonical): route.handler
                for route in real.router.routes()
                if route.resource is not None
            }
        return self._handlers

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else request.path
        handler = self.handlers().get((request.method, path))
        if handler is None:
            raise web.HTTPNotFound()
        return await handler(request)
