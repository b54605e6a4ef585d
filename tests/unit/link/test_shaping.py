"""Burst molding: equal slots while a burst is on, bucketed burst lengths, a padding budget."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import LinkError
from gateway.link.shaping import BurstShaper, ShapingConfig

CONFIG = ShapingConfig(interval=0.1, slot_bytes=100, hold=0.4, budget_bytes_per_minute=10_000)


def pad_and_take(shaper: BurstShaper, now: float) -> list[tuple[bytes, bool]]:
    """What a pacer does at a slot: fill the deficit with padding, then take what is due."""
    while (need := shaper.deficit()) > 0:
        if not shaper.may_pad(now, need):
            break
        shaper.push(b"p" * need, False)
    return [(c.data, c.cover) for c in shaper.take(now)]


def run_burst(shaper: BurstShaper, start: float, slots: int) -> list[tuple[bytes, bool]]:
    out: list[tuple[bytes, bool]] = []
    for k in range(slots):
        out += pad_and_take(shaper, start + k * shaper.config.interval)
    return out


def test_an_idle_shaper_sends_nothing() -> None:
    shaper = BurstShaper(CONFIG)
    assert not shaper.active and shaper.next_due(0.0) is None
    assert shaper.deficit() == 0 and shaper.take(5.0) == []


def test_a_burst_sends_equal_slots_real_first_then_padding_for_the_hold() -> None:
    shaper = BurstShaper(CONFIG)
    shaper.push(b"r" * 150, True)
    shaper.start(10.0)
    out = run_burst(shaper, 10.0, 12)
    assert [len(d) for d, _ in out] == [100] * len(out)
    assert out[0] == (b"r" * 100, False)
    assert out[1] == (b"r" * 50 + b"p" * 50, False)  # a slot with real bytes is not cover
    assert all(cover and set(d) == {ord("p")} for d, cover in out[2:])
    # the last real byte left in slot 1: hold (4 slots) after it is 6 slots, bucketed to 8
    assert len(out) == 8 and not shaper.active
    assert shaper.bursts == 1 and shaper.padding_bytes == 50 + 6 * 100


def test_slots_follow_absolute_times_and_a_late_caller_catches_up_a_bounded_amount() -> None:
    config = ShapingConfig(interval=0.1, slot_bytes=10, hold=2.0, max_catch_up=3)
    shaper = BurstShaper(config)
    shaper.push(b"r" * 1000, True)
    shaper.start(0.0)
    assert len(shaper.take(0.0)) == 1
    assert shaper.next_due(0.0) == pytest.approx(0.1)
    assert shaper.take(0.05) == []  # not yet due
    assert len(shaper.take(1.0)) == 3  # 10 slots due (0.1 .. 1.0): 3 written, 7 skipped
    assert shaper.skipped == 7
    assert shaper.next_due(1.0) == pytest.approx(1.1)


def test_real_data_keeps_a_burst_on_and_its_length_is_a_bucket() -> None:
    shaper = BurstShaper(CONFIG)  # hold = 4 slots: bursts last 4, 8, 16, ... slots
    shaper.start(0.0)
    shaper.push(b"r", True)
    slots: list[tuple[bytes, bool]] = []
    for k in range(40):
        now = k * 0.1
        if k in (3, 6, 9):  # each arrives before the burst's current end
            shaper.push(b"r", True)
        slots += pad_and_take(shaper, now)
    # last real byte in slot 9: 9 + 1 + 4 = 14 slots, rounded up to 16
    assert len(slots) == 16 and not shaper.active
    assert [i for i, (_, cover) in enumerate(slots) if not cover] == [0, 3, 6, 9]


def test_padding_beyond_the_budget_is_refused_and_the_burst_ends() -> None:
    config = ShapingConfig(interval=0.1, slot_bytes=100, hold=0.4, budget_bytes_per_minute=250)
    shaper = BurstShaper(config)
    shaper.push(b"r" * 100, True)
    shaper.start(0.0)
    out = run_burst(shaper, 0.0, 10)
    # one real slot, then two padded slots fit 250 bytes; the third is refused
    assert [cover for _, cover in out] == [False, True, True]
    assert shaper.refused_bytes > 0 and not shaper.active
    # filling a slot that carries real bytes is allowed even over the budget
    shaper.push(b"r" * 10, True)
    shaper.start(1.0)
    assert shaper.deficit() == 90 and shaper.may_pad(1.0, 90)
    # a minute later the budget is free again
    assert shaper.may_pad(70.0, 200)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=300), st.integers(0, 5)), max_size=12))
def test_the_wire_is_the_pushed_stream_in_order_in_full_slots(
    records: list[tuple[bytes, int]],
) -> None:
    shaper = BurstShaper(CONFIG)
    pushed = bytearray()
    wire = bytearray()
    sizes: list[int] = []
    now = 0.0
    pending = list(records)
    for _ in range(400):
        if pending and pending[0][1] == 0:
            record, _gap = pending.pop(0)
            shaper.push(record, True)
            shaper.start(now)
        elif pending:
            pending[0] = (pending[0][0], pending[0][1] - 1)
        for data, _ in pad_and_take(shaper, now):
            wire += data
            sizes.append(len(data))
        now += CONFIG.interval
    for record, _ in records:
        pushed += record
    assert set(sizes) <= {CONFIG.slot_bytes}
    # padding is all b"p": without it, the wire is the real records in order
    assert bytes(wire).replace(b"p", b"") == bytes(pushed).replace(b"p", b"")
    assert shaper.real_buffered == 0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(LinkError):
        ShapingConfig(interval=0.0)
    with pytest.raises(LinkError):
        ShapingConfig(interval=0.1, hold=0.05)
    with pytest.raises(LinkError):
        ShapingConfig(slot_bytes=0)
    assert ShapingConfig().rate == pytest.approx(16 * 498 / 0.05)


def test_a_burst_ends_on_a_record_boundary_when_padding_records_overrun_the_slot() -> None:
    """A pacer's padding records come in the padding mode's sizes, so the last slot of a burst
    can cut one in two. The burst then goes on (without new padding) until the stream is
    empty: whatever the link writes after the burst must start on a record boundary, or the
    peer reads garbage lengths ("record of 745605615 bytes exceeds the limit")."""
    shaper = BurstShaper(CONFIG)
    pushed = bytearray(b"r" * 150)
    shaper.push(bytes(pushed), True)
    shaper.start(0.0)
    wire = bytearray()
    for k in range(40):
        now = k * CONFIG.interval
        while shaper.deficit() > 0 and shaper.may_pad(now, 250):
            shaper.push(b"p" * 250, False)  # a record bigger than the gap it fills
            pushed += b"p" * 250
        wire += b"".join(c.data for c in shaper.take(now))
    assert not shaper.active and shaper.buffered == 0
    assert bytes(wire) == bytes(pushed)
