"""The pacer: immediate writes, constant-rate ticks with sealing kept off the tick."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence

import pytest

from gateway.config.levels import POLICIES
from gateway.config.schema import Level
from gateway.errors import QueueFullError
from gateway.link.cover import ConstantRateConfig, CoverSettings, FrontConfig
from gateway.link.pacer import Pacer

INTERVAL = 0.05


class FakeSealer:
    def __init__(self, log: list[tuple[str, float]]) -> None:
        self.log = log
        self.n = 0

    def send_records(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> list[bytes]:
        self.log.append(("seal", time.monotonic()))
        time.sleep(0.01)  # sealing and the fsync take time
        self.n += 1
        return [b"R" + payload]

    def dummy(self, record_size: int | None = None) -> bytes:
        self.log.append(("seal", time.monotonic()))
        time.sleep(0.01)
        return b"D"


class FakeWriter:
    def __init__(self, log: list[tuple[str, float]]) -> None:
        self.log = log
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.log.append(("write", time.monotonic()))
        self.data.append(data)

    async def drain(self) -> None:
        return None


async def run_for(pacer: Pacer, seconds: float) -> None:
    task = asyncio.create_task(pacer.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def paced_pacer(log: list[tuple[str, float]]) -> tuple[Pacer, FakeWriter]:
    writer = FakeWriter(log)
    settings = CoverSettings(FrontConfig(), ConstantRateConfig(interval=INTERVAL, max_queue=8))
    pacer = Pacer(
        FakeSealer(log),
        writer,
        POLICIES[Level.PARANOID],
        settings=settings,  # type: ignore[arg-type]
    )
    return pacer, writer


async def test_constant_rate_writes_one_record_per_tick_real_or_dummy() -> None:
    log: list[tuple[str, float]] = []
    pacer, writer = paced_pacer(log)
    for i in range(3):
        pacer.submit(bytes([i]))
    await run_for(pacer, 12 * INTERVAL)
    writes = [t for kind, t in log if kind == "write"]
    assert 9 <= len(writes) <= 13
    gaps = [b - a for a, b in itertools.pairwise(writes)]
    assert all(abs(g - INTERVAL) < 0.6 * INTERVAL for g in gaps), gaps
    assert writer.data[:3] == [b"R\x00", b"R\x01", b"R\x02"]  # real ones take the first ticks
    assert set(writer.data[3:]) == {b"D"}
    assert pacer.dummies == len(writer.data) - 3


async def test_nothing_is_sealed_between_a_tick_and_its_write() -> None:
    log: list[tuple[str, float]] = []
    pacer, _ = paced_pacer(log)

    async def traffic() -> None:
        for i in range(6):
            pacer.submit(bytes([i]))
            await asyncio.sleep(INTERVAL * 0.7)

    await asyncio.gather(run_for(pacer, 10 * INTERVAL), traffic())
    kinds = [kind for kind, _ in log]
    # after the first tick, every record was sealed right after an earlier tick, never
    # just before its own: seals come in a batch after each write
    first_write = kinds.index("write")
    for i, kind in enumerate(kinds):
        if kind == "write" and i > first_write and kinds[i - 1] == "seal":
            seal_t = log[i - 1][1]
            write_t = log[i][1]
            assert write_t - seal_t > 0.5 * INTERVAL, (seal_t, write_t)


async def test_a_full_constant_rate_queue_pushes_back() -> None:
    pacer, _ = paced_pacer([])
    for i in range(8):
        pacer.submit(bytes([i]))
    with pytest.raises(QueueFullError):
        pacer.submit(b"one too many")
    assert pacer.queue_depth == 8


async def test_standard_writes_at_once_and_adds_no_cover() -> None:
    log: list[tuple[str, float]] = []
    writer = FakeWriter(log)
    pacer = Pacer(FakeSealer(log), writer, POLICIES[Level.STANDARD])  # type: ignore[arg-type]
    task = asyncio.create_task(pacer.run())
    pacer.submit(b"x")
    await asyncio.sleep(0.05)
    pacer.submit(b"y")
    await asyncio.sleep(0.2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert writer.data == [b"Rx", b"Ry"] and pacer.dummies == 0
    assert pacer.payload_bytes == 2 and pacer.wire_bytes == 4
