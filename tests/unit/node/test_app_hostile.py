"""Hostile HTTP to the onion's server: answered or dropped, counted, and never logged as a
traceback or with the peer's bytes (they were logged word for word, tracebacks included)."""

from __future__ import annotations

import asyncio
import io
import json

from gateway.config.schema import LogRedaction
from gateway.logs import setup_logging, teardown_logging
from gateway.node.app import HttpServer, NodeInfo, build_app

MARK = b"EVILMARK"
HOSTILE = (
    b"GET /" + MARK + b"A" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # LineTooLong
    b"GET \x00\xff\xfe" + MARK + b" HTTP/9.9\r\n\r\n",
    b"GET /health?" + MARK + b" HTTP/1.1\r\n\r\n",  # no Host
    b"POST /health?" + MARK + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nab",
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-" + MARK + b": \x01\x02\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + MARK,
    b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + MARK + b"\r\n",
)


async def send(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(100), 0.5)
    except TimeoutError:
        return b""  # the peer then hangs up mid-body
    finally:
        writer.close()


async def test_hostile_requests_are_counted_not_logged() -> None:
    stream = io.StringIO()
    handler = setup_logging("debug", LogRedaction.DEBUG_ONLY, stream)
    server = HttpServer(build_app(NodeInfo()), "127.0.0.1")
    try:
        await server.start()
        replies = [await send(server.port, data) for data in HOSTILE]
        await asyncio.sleep(0.3)  # the dropped POST's error is logged as its task ends
        ok = await send(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        await server.stop()
        teardown_logging(handler)
    assert all(r.startswith(b"HTTP/1.") or r == b"" for r in replies)
    assert sum(r.startswith(b"HTTP/1.0 400") for r in replies) >= 5
    assert ok.startswith(b"HTTP/1.1 200")  # the server is still fine
    assert sum(server.counters.values()) >= len(HOSTILE) - 1
    assert server.counters["http_error_LineTooLong"] == 1
    text = stream.getvalue()
    assert MARK.decode() not in text and "Traceback" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert not [x for x in lines if x["level"] in ("warning", "error")]
    assert any(x["msg"] == "a request from the onion failed: LineTooLong" for x in lines)
