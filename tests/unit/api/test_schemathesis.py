"""Schemathesis against the node's API app served on 127.0.0.1: no 5xx, replies match the doc.

The app (real services over SQLite in a temp dir) runs in its own thread with its own
event loop; schemathesis calls it over HTTP with the token, a bounded number of examples
per operation. The event stream (a WebSocket) is tested in test_events.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from gateway.api import openapi
from gateway.api.ratelimit import RateLimit
from tests.unit.api.nodeapp import build

schema = schemathesis.openapi.from_dict(openapi.document())
EVENTS = "/api/v1/events"


class LiveNode(threading.Thread):
    """The app on 127.0.0.1 in a thread (SQLite connections stay in that thread)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.ready = threading.Event()
        self.base = ""
        self.token = ""
        self.failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._halt: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by the fixture
            self.failed = exc
            self.ready.set()

    async def _serve(self) -> None:
        self._loop, self._halt = asyncio.get_running_loop(), asyncio.Event()
        node = build(self.folder, limit=RateLimit(rate=10_000, burst=10_000))
        runner = web.AppRunner(node.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base, self.token = f"http://127.0.0.1:{port}", node.token
        self.ready.set()
        try:
            await self._halt.wait()
        finally:
            await runner.cleanup()
            await node.close()

    def stop(self) -> None:
        if self._loop is not None and self._halt is not None:
            self._loop.call_soon_threadsafe(self._halt.set)
        self.join(timeout=10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("schemathesis") / "alice")
    node.start()
    assert node.ready.wait(timeout=30)
    if node.failed is not None:
        raise node.failed
    yield node
    node.stop()


@schema.exclude(path=EVENTS).parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms(case: schemathesis.Case, live: LiveNode) -> None:
    case.call_and_validate(
        base_url=live.base,
        headers={"Authorization": f"Bearer {live.token}"},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=30,
    )


def test_events_route_is_documented_but_not_fuzzed() -> None:
    assert EVENTS in openapi.document()["paths"]
