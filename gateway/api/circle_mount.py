"""The local API's circle routes, with their module and the circle service made at first use.

A node without circles carries no circle code until the API is asked about circles
(:mod:`gateway.api.circle_routes` holds the routes, :class:`~gateway.node.lazycircles.LazyCircles`
makes the service).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gateway.api.lazymount import Handler, LazyRoutes
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


class LazyCircleRoutes(LazyRoutes):
    """The circle route set; the real one (and the circle service) is made on the first request.

    ``find_contact`` and ``resolve_entry`` are :class:`~gateway.api.circle_routes.CircleRoutes`'s.
    """

    ROUTES = ROUTES
    HEAD = True  # CircleRoutes adds its GET routes with add_get

    def __init__(
        self,
        circles: LazyCircles,
        find_contact: Callable[[str], bytes],
        resolve_entry: Callable[[str], bytes],
    ) -> None:
        self.circles = circles
        self.find_contact = find_contact
        self.resolve_entry = resolve_entry

    def load(self) -> dict[tuple[str, str], Handler]:
        from gateway.api.circle_routes import CircleRoutes

        real = web.Application()
        CircleRoutes(self.circles.get(), self.find_contact, self.resolve_entry).add_to(real)
        return {
            (route.method, route.resource.canonical): route.handler
            for route in real.router.routes()
            if route.resource is not None
        }
