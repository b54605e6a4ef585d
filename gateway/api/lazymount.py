"""A route set of the local API whose module is imported with its first request.

The paths are registered at start, all on one dispatcher; the first request makes the
real handlers (:meth:`LazyRoutes.load`) and every request goes to the one registered for
its method and path. :mod:`gateway.api.openai_mount` and :mod:`gateway.api.circle_mount`
are such sets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LazyRoutes:
    """``ROUTES`` (method, path) served by the handlers :meth:`load` makes on first use."""

    ROUTES: tuple[tuple[str, str], ...] = ()
    #: GET routes answer HEAD too (as aiohttp's ``add_get`` does)
    HEAD: bool = False

    _handlers: dict[tuple[str, str], Handler] | None = None

    def add_to(self, app: web.Application) -> None:
        for method, path in self.ROUTES:
            if method == "GET" and self.HEAD:
                app.router.add_get(path, self._handle)
            else:
                app.router.add_route(method, path, self._handle)

    def load(self) -> dict[tuple[str, str], Handler]:
        """(method, path) -> the real route's handler."""
        raise NotImplementedError

    def handlers(self) -> dict[tuple[str, str], Handler]:
        """The real handlers (made on the first call)."""
        if self._handlers is None:
            self._handlers = self.load()
        return self._handlers

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else request.path
        handler = self.handlers().get((request.method, path))
        if handler is None:
            raise web.HTTPNotFound()
        return await handler(request)
