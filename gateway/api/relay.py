"""A loopback TCP port that relays to the local API's unix socket (``gateway dashboard``).

At PARANOID the local API listens only on ``<state>/api.sock`` (0600), which a browser
cannot open. The relay accepts connections on 127.0.0.1 and copies bytes both ways to
the socket, so HTTP, the dashboard's files and its WebSocket event stream all pass
unchanged: the API still asks every request for its token, and still rate-limits. It
runs in the foreground for as long as the user wants the page.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from gateway.errors import ApiError

CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


class UnixRelay:
    """Serves 127.0.0.1:``port`` (0: a free one), relaying each connection to ``socket``."""

    def __init__(self, socket: Path, port: int = 0) -> None:
        self.socket = socket
        self.port = port
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        if not self.socket.exists():
            raise ApiError(f"the node's API socket {self.socket} does not exist (is it running?)")
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            api_r, api_w = await asyncio.open_unix_connection(str(self.socket))
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, api_w), _pipe(api_r, client_w))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
