"""The onion service's front door on 127.0.0.1: links, and HTTP for the health endpoint.

tor forwards the onion's port here. With ``HiddenServiceExportCircuitID``
every stream starts with tor's PROXY line (the client circuit's id, for
per-circuit handshake limits). Then the first bytes tell the two protocols
apart: a link starts with a 4-byte record length, HTTP with a method name, and
HTTP is spliced to the node's aiohttp server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from gateway.errors import FrameError
from gateway.link.proxyproto import MAX_LINE, parse_proxy_line

log = logging.getLogger("gateway.link")

FIRST_BYTES_TIMEOUT = 30.0
HTTP_STARTS = (b"GET ", b"HEAD", b"POST", b"PUT ", b"OPTI", b"DELE", b"PATC")

Accept = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int | None, bytes], Awaitable[None]]


class FrontDoor:
    """Accepts the onion's streams and hands each to the link manager or the HTTP server."""

    def __init__(self, accept: Accept, http_port: int, *, expect_proxy_line: bool) -> None:
        self.accept = accept
        self.http_port = http_port
        self.expect_proxy_line = expect_proxy_line
        self.counters: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on 127.0.0.1 (a free port); the port."""
        self._server = await asyncio.start_server(self._on_stream, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._route(reader, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, FrameError) as exc:
            self.counters[f"rejected_{type(exc).__name__}"] += 1
            writer.close()
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _route(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        circuit = None
        if self.expect_proxy_line:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), FIRST_BYTES_TIMEOUT)
            if len(line) > MAX_LINE:
                raise FrameError("PROXY line too long")
            circuit = parse_proxy_line(line)
        first = await asyncio.wait_for(reader.readexactly(4), FIRST_BYTES_TIMEOUT)
        if first in HTTP_STARTS:
            self.counters["http"] += 1
            await self._splice(first, reader, writer)
        else:
            self.counters["link"] += 1
            await self.accept(reader, writer, circuit, first)

    async def _splice(
        self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.http_port)
        up_writer.write(first)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (up_writer, writer):
                w.close()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
