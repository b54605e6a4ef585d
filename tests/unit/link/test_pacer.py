"""The pacer: immediate writes, constant-rate ticks with sealing kept off the tick."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Sequence

import pytest

from gateway.config.levels import POLICIES
from gateway.config.schema import Level
from gateway.errors import QueueFullError
from gateway.link.cover import ConstantRateConfig, CoverSettings, FrontConfig
from gateway.link.pacer import WINDOW_SHARE, Pacer
from gateway.link.shaping import ShapingConfig

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
        writer,  # type: ignore[arg-type]
        POLICIES[Level.PARANOID],
        settings=settings,
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
            assert write_t - seal_t > (1 - WINDOW_SHARE) * INTERVAL - 0.005, (seal_t, write_t)


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


class SizedSealer:
    """Records of real sizes: each payload one record, dummies of the size asked for."""

    def __init__(self) -> None:
        self.sealed: list[bytes] = []

    def send_records(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> list[bytes]:
        self.sealed.append(b"R" + payload)
        return [self.sealed[-1]]

    def dummy(self, record_size: int | None = None) -> bytes:
        self.sealed.append(b"D" * (record_size or 498))
        return self.sealed[-1]


SHAPING = ShapingConfig(interval=INTERVAL, slot_bytes=4 * 498, hold=4 * INTERVAL)


def shaped_pacer() -> tuple[Pacer, FakeWriter, SizedSealer, list[tuple[str, float]]]:
    log: list[tuple[str, float]] = []
    writer = FakeWriter(log)
    sealer = SizedSealer()
    # FRONT's start burst and idle timer far off, so only the shaped burst writes
    front = FrontConfig(w_min=500, w_max=500, idle_min=60, idle_max=60)
    settings = CoverSettings(front, ConstantRateConfig(), SHAPING)
    pacer = Pacer(
        sealer,
        writer,  # type: ignore[arg-type]
        POLICIES[Level.HIGH],
        settings=settings,
        rng=random.Random(4),
    )
    return pacer, writer, sealer, log


async def test_high_molds_traffic_into_equal_slots_and_falls_silent_after_the_burst() -> None:
    pacer, writer, _, log = shaped_pacer()
    task = asyncio.create_task(pacer.run())
    await asyncio.sleep(0.01)
    assert writer.data == []  # idle: silent
    front_dummies = 0
    pacer.submit(b"x" * 3000)  # more than a slot
    await asyncio.sleep(INTERVAL)
    pacer.submit(b"y" * 10)
    await asyncio.sleep(20 * INTERVAL)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    slots = writer.data[front_dummies:]
    assert slots and {len(s) for s in slots[:-1]} <= {SHAPING.slot_bytes}
    # the burst ends on a record boundary: these test records are not whole cells, so the
    # last slot may be the short rest of a record the slot before it cut in two
    assert 0 < len(slots[-1]) <= SHAPING.slot_bytes
    # the wire is the sealed records in seal order, cut into slots
    wire = b"".join(slots)
    assert b"R" + b"x" * 3000 in wire and b"Ry" in wire
    assert wire.index(b"Ry") > wire.index(b"x" * 3000)
    # the last real record left in slot 1 or 2: hold (4 slots) bucketed to 8 slots, (the rest
    # of a cut record,) then silence
    assert len(slots) in (8, 9)
    assert pacer.shaper is not None and not pacer.shaper.active
    assert pacer.shaper.buffered == 0
    times = [t for kind, t in log if kind == "write"][front_dummies:]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(abs(g - INTERVAL) < 0.6 * INTERVAL for g in gaps), gaps


async def test_received_data_waits_for_the_window_after_a_tick() -> None:
    log: list[tuple[str, float]] = []
    pacer, _ = paced_pacer(log)
    task = asyncio.create_task(pacer.run())
    turns: list[float] = []

    async def reader() -> None:
        for _ in range(12):
            await pacer.receive_turn()
            turns.append(time.monotonic())
            await asyncio.sleep(INTERVAL * 0.37)

    await reader()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    writes = [t for kind, t in log if kind == "write"]
    after = [turn for turn in turns if turn > writes[0]]  # before the first tick: any time
    assert len(after) >= 8
    for turn in after:
        last = max(w for w in writes if w <= turn)
        assert turn - last < WINDOW_SHARE * INTERVAL + 0.01, (turn, last)


async def test_a_shaped_queue_pushes_back() -> None:
    pacer, _, _, _ = shaped_pacer()
    for _ in range(SHAPING.max_queue):
        pacer.submit(b"x")
    with pytest.raises(QueueFullError):
        pacer.submit(b"x")


async def test_constant_rate_seals_lazily_so_many_fragments_never_overflow() -> None:
    class Fragmenting(SizedSealer):
        def send_records(self, payload: bytes, msg_ids: Sequence[bytes] = ()) -> list[bytes]:
            return [payload + bytes([i]) for i in range(20)]  # a payload of 20 fragments

    log: list[tuple[str, float]] = []
    writer = FakeWriter(log)
    settings = CoverSettings(FrontConfig(), ConstantRateConfig(interval=0.01, max_queue=8))
    pacer = Pacer(
        Fragmenting(),
        writer,  # type: ignore[arg-type]
        POLICIES[Level.PARANOID],
        settings=settings,
    )
    for i in range(8):  # 160 records: sealing them at once would overflow a queue of 8
        pacer.submit(bytes([65 + i]))
    await run_for(pacer, 0.5)
    real = [d for d in writer.data if not d.startswith(b"D")]
    assert len(real) >= 30 and len(real) == len(writer.data)  # no dummy while reals wait
    assert real == [bytes([65 + i // 20, i % 20]) for i in range(len(real))]
    with pytest.raises(QueueFullError):  # still backpressure on payloads
        pacer.submit(b"more")
