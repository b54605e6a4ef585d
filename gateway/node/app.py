"""The HTTP server behind the onion service (aiohttp), bound to loopback only.

:func:`build_app` makes the application from the node's public facts and a
list of *route installers*: each subsystem contributes a function that adds
its routes (``/health`` is the first). :class:`HttpServer` runs it on
127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway import PROTOCOL_VERSION, __version__
from gateway.errors import ConfigError

log = logging.getLogger("gateway.node")

#: adds a subsystem's routes (and middlewares, cleanup hooks...) to the app
RouteInstaller = Callable[[web.Application], None]


@dataclass(frozen=True)
class NodeInfo:
    """What the node tells anyone who reaches it. Deliberately little.

    The onion address is not included: a client over Tor already knows it,
    and a local process probing the loopback port should not learn it.
    """

    version: str = __version__
    protocol: int = PROTOCOL_VERSION


NODE_INFO = web.AppKey("node_info", NodeInfo)


def check_loopback(host: str, source: Path | None = None) -> str:
    """The loopback address to bind for ``host``; ConfigError otherwise (never 0.0.0.0).

    ``localhost`` means 127.0.0.1 (no name lookup that could answer otherwise).
    """
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ConfigError(source, "http.host", "a loopback IP address such as 127.0.0.1", host)
    return host


async def health(request: web.Request) -> web.Response:
    """The node's version; a POSTed body (at most the app's size limit) is read and dropped,
    so a client can measure raw transfer over its circuit (bench/sync's baseline)."""
    if request.method == "POST":
        await request.read()
    info = request.app[NODE_INFO]
    return web.json_response({"status": "ok", "version": info.version, "protocol": info.protocol})


def install_health(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_post("/health", health)


def build_app(info: NodeInfo, installers: Iterable[RouteInstaller] = ()) -> web.Application:
    """The node's aiohttp app: ``/health`` plus whatever ``installers`` add."""
    app = web.Application()
    app[NODE_INFO] = info
    install_health(app)
    for install in installers:
        install(app)
    return app


class _BadRequests(logging.Handler):
    """Takes what aiohttp's server logs about a request it could not parse or answer: a
    count by error class, one debug line with that class alone. The peer is whoever
    reached the onion; its bytes (a 100 KB URL, control characters) are never logged."""

    def __init__(self, server: HttpServer) -> None:
        super().__init__()
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        kind = type(exc).__name__ if exc is not None else "other"
        self.server.counters[f"http_error_{kind}"] += 1
        log.debug("a request from the onion failed: %s", kind)


class HttpServer:
    """Runs an app on a loopback address; the port is known after :meth:`start`.

    ``counters`` counts the requests that failed before or in a handler, by error class
    (``http_error_LineTooLong``...); the runner shares the front door's counters here.
    """

    def __init__(
        self, app: web.Application, host: str, port: int = 0, *, source: Path | None = None
    ) -> None:
        self.counters: Counter[str] = Counter()
        quiet = logging.getLogger(f"gateway.node.http.{id(self)}")
        quiet.propagate = False
        quiet.setLevel(logging.DEBUG)
        quiet.addHandler(_BadRequests(self))
        self._quiet = quiet
        self._runner = web.AppRunner(app, access_log=None, logger=quiet)
        self._host = check_loopback(host, source)
        self._port = port
        self._source = source
        self.port = port

    async def start(self) -> str:
        """Bind and serve; return the ``host:port`` target for HiddenServicePort."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(
                self._source, "http.port", "a free port on loopback", self._port, detail=str(exc)
            ) from exc
        self.port = int(self._runner.addresses[0][1])
        return self.target

    @property
    def target(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()
        for handler in list(self._quiet.handlers):
            self._quiet.removeHandler(handler)
        logging.Logger.manager.loggerDict.pop(self._quiet.name, None)
