"""The node's circle service, made when it is first needed.

A node that holds no circle carries no PBFT code (:mod:`gateway.circle`), no ``circles.db``
connection and no database thread: :class:`LazyCircles` makes the
:class:`~gateway.node.circles.CircleService` at start when ``circles.db`` holds a circle
(joined or pending), else with the first message on the ``circle`` channel (an invitation)
or the first circle call of the local API (:mod:`gateway.api.circle_mount`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.memory.spaces import Space
from gateway.node.circlestore import holds_circles

if TYPE_CHECKING:
    from gateway.node.circles import CircleService

#: the links' channel of circles (:data:`gateway.node.circles.CHANNEL`, without its import)
CHANNEL = "circle"


class LazyCircles:
    """Makes the circle service with ``make`` on first use (at once if ``db_path`` holds a
    circle), and stands for it until then: no circle, nothing to run, nothing to close."""

    def __init__(self, make: Callable[[], CircleService], db_path: Path) -> None:
        self._make = make
        self.service: CircleService | None = None
        self._made = asyncio.Event()
        if holds_circles(db_path):
            self.get()

    def get(self) -> CircleService:
        """The circle service (made now if it was not yet)."""
        if self.service is None:
            self.service = self._make()
            self._made.set()
        return self.service

    def handler(self, contact: bytes, body: bytes) -> None:
        """The ``circle`` channel's handler: the service's (made by the first message)."""
        self.get().handler(contact, body)

    def governed_spaces(self) -> Mapping[str, Space]:
        """The spaces the joined circles govern: none before the service is made."""
        return {} if self.service is None else self.service.governed_spaces()

    async def run(self) -> None:
        """Wait for the service to be made, then run its loop; until cancelled."""
        await self._made.wait()
        assert self.service is not None
        await self.service.run()

    def close_now(self) -> None:
        """Close the service's database without a running loop (a failed start)."""
        if self.service is not None:
            self.service.close_now()

    async def close(self) -> None:
        if self.service is not None:
            await self.service.close()
