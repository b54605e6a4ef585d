"""The circle service made on first need: not at start for a node without circles."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway.node import circles as circles_mod
from gateway.node import lazycircles
from gateway.node.circlestore import JOINED, PENDING, CircleRow, CircleStore, holds_circles
from gateway.node.lazycircles import LazyCircles

#: what the fake service's circles govern
SPACES: dict[str, Any] = {"s": "space"}


class FakeService:
    """Stands for a CircleService: what LazyCircles forwards to it."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, bytes]] = []
        self.ran = asyncio.Event()
        self.closed = False

    def handler(self, contact: bytes, body: bytes) -> None:
        self.received.append((contact, body))

    def governed_spaces(self) -> dict[str, Any]:
        return SPACES

    async def run(self) -> None:
        self.ran.set()
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.closed = True


def lazy(db: Path) -> tuple[LazyCircles, list[Any]]:
    made: list[Any] = []

    def make() -> Any:
        made.append(FakeService())
        return made[-1]

    return LazyCircles(make, db), made


def add_circle(db: Path, status: str) -> None:
    store = CircleStore(db)
    try:
        store.add(CircleRow(b"\x01" * 32, "c", b"genesis", status, None, 1.0, None))
    finally:
        store.close()


def test_the_channel_is_the_circle_services() -> None:
    assert lazycircles.CHANNEL == circles_mod.CHANNEL


def test_holds_circles_reads_the_file_without_writing(tmp_path: Path) -> None:
    db = tmp_path / "circles.db"
    assert not holds_circles(db) and not db.exists()
    CircleStore(db).close()
    assert not holds_circles(db)
    add_circle(db, PENDING)  # an invitation counts: it must be kept and shown
    assert holds_circles(db)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    assert holds_circles(garbage)  # opening the store will say what is wrong


async def test_no_circle_no_service_until_a_message_comes(tmp_path: Path) -> None:
    db = tmp_path / "circles.db"
    circles, made = lazy(db)
    assert circles.service is None and made == [] and not db.exists()
    assert circles.governed_spaces() == {}
    runner = asyncio.create_task(circles.run())
    await asyncio.sleep(0.01)
    assert not runner.done() and made == []
    await circles.close()  # nothing to close
    circles.handler(b"peer", b"invitation")
    assert len(made) == 1
    fake: FakeService = made[0]
    assert fake.received == [(b"peer", b"invitation")]
    await asyncio.wait_for(fake.ran.wait(), 5)  # the loop runs once the service exists
    assert circles.governed_spaces() == SPACES
    assert circles.get() is made[0]  # made once
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await circles.close()
    assert fake.closed


def test_a_node_holding_a_circle_makes_the_service_at_start(tmp_path: Path) -> None:
    db = tmp_path / "circles.db"
    add_circle(db, JOINED)
    circles, made = lazy(db)
    assert len(made) == 1 and circles.service is made[0]
