"""Driving a link connection through its handshake and HELLO on an asyncio stream."""

from __future__ import annotations

import asyncio

from gateway.errors import LinkError
from gateway.link.pacer import Tap
from gateway.link.protocol import LinkConnection, Opened, PayloadReceived, SendBytes

READ_SIZE = 65536


async def establish(
    conn: LinkConnection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    prefix: bytes = b"",
    tap: Tap | None = None,
) -> tuple[Opened, list[PayloadReceived]]:
    """Run ``conn`` until it is OPEN; the Opened event and payloads read along with it.

    ``prefix``: bytes of the stream already read (the front door's sniffing).
    Raises the connection's ProtocolError, or LinkError if the peer hangs up.
    """
    early: list[PayloadReceived] = []
    opened: Opened | None = None
    events = conn.start() + (conn.receive(prefix) if prefix else [])
    while True:
        for event in events:
            if isinstance(event, SendBytes):
                writer.write(event.data)
                if tap is not None:
                    tap(event.data, False)
            elif isinstance(event, Opened):
                opened = event
            elif isinstance(event, PayloadReceived):
                early.append(event)
        await writer.drain()
        if opened is not None:
            return opened, early
        data = await reader.read(READ_SIZE)
        if not data:
            raise LinkError("the connection closed during the handshake")
        events = conn.receive(data)
