"""Record sizes of the three padding modes."""

from __future__ import annotations

import pytest

from gateway.config.schema import PaddingMode
from gateway.errors import FrameError
from gateway.session.frames import FRAME_HEADER_SIZE, padded_record_size, record_sizes
from gateway.session.padding import (
    BUCKET_SIZES,
    CELL_PAYLOAD,
    DEFAULT_FIXED_SIZE,
    is_allowed_record_size,
    padme,
    padme_cells,
    record_size_for,
)

OVERHEAD = 100


def test_padme_known_values_and_properties() -> None:
    assert [padme(n) for n in range(8)] == list(range(8))
    assert padme(9) == 10 and padme(17) == 18 and padme(33) == 36
    assert padme(1000) == 1024 and padme(1025) == 1088
    for n in range(1, 5000):
        p = padme(n)
        assert n <= p <= n * 1.12 + 1
        assert padme(p) == p  # idempotent
        low_zero = (p.bit_length() - 1) - (p.bit_length() - 1).bit_length()
        assert p % (1 << max(low_zero, 0)) == 0


def test_padme_cells_sizes_are_whole_cells_and_idempotent() -> None:
    for size in range(1, 40_000, 7):
        r = padme_cells(size)
        assert r >= size and r % CELL_PAYLOAD == 0
        assert padme_cells(r) == r
        assert is_allowed_record_size(PaddingMode.PADME_CELLS, r)
    assert padme_cells(1) == CELL_PAYLOAD
    assert padme_cells(CELL_PAYLOAD + 1) == 2 * CELL_PAYLOAD


def test_allowed_sizes_per_mode() -> None:
    assert is_allowed_record_size(PaddingMode.PADME_CELLS, 7 * CELL_PAYLOAD)
    assert not is_allowed_record_size(PaddingMode.PADME_CELLS, 9 * CELL_PAYLOAD)
    assert not is_allowed_record_size(PaddingMode.PADME_CELLS, 0)
    assert not is_allowed_record_size(PaddingMode.PADME_CELLS, CELL_PAYLOAD + 1)
    assert BUCKET_SIZES == (498, 996, 1992, 3984, 7968, 15936)
    for b in BUCKET_SIZES:
        assert is_allowed_record_size(PaddingMode.BUCKETS, b)
    assert not is_allowed_record_size(PaddingMode.BUCKETS, 1494)
    assert is_allowed_record_size(PaddingMode.FIXED, DEFAULT_FIXED_SIZE)
    assert not is_allowed_record_size(PaddingMode.FIXED, 498)
    assert is_allowed_record_size(PaddingMode.FIXED, 1494, fixed_size=1494)


def test_record_size_for_picks_smallest_allowed() -> None:
    assert record_size_for(PaddingMode.BUCKETS, 499) == 996
    assert record_size_for(PaddingMode.BUCKETS, 498) == 498
    assert record_size_for(PaddingMode.FIXED, 10) == DEFAULT_FIXED_SIZE
    with pytest.raises(FrameError):
        record_size_for(PaddingMode.BUCKETS, BUCKET_SIZES[-1] + 1)
    with pytest.raises(FrameError):
        record_size_for(PaddingMode.FIXED, DEFAULT_FIXED_SIZE + 1)


@pytest.mark.parametrize("mode", list(PaddingMode))
def test_every_produced_size_is_allowed(mode: PaddingMode) -> None:
    for length in [*range(0, 2100), 15_000, 16_000, 40_000, 100_000]:
        sizes = record_sizes(mode, length, OVERHEAD)
        assert all(is_allowed_record_size(mode, s) for s in sizes)
        assert padded_record_size(mode, length, OVERHEAD) == sum(sizes)
        assert sum(sizes) >= length + len(sizes) * (FRAME_HEADER_SIZE + OVERHEAD)


def test_only_splitting_modes_split() -> None:
    assert len(record_sizes(PaddingMode.PADME_CELLS, 100_000, OVERHEAD)) == 1
    assert len(record_sizes(PaddingMode.BUCKETS, 100_000, OVERHEAD)) == 7
    fixed = record_sizes(PaddingMode.FIXED, 10_000, OVERHEAD)
    capacity = DEFAULT_FIXED_SIZE - OVERHEAD - FRAME_HEADER_SIZE
    assert len(fixed) == -(-10_000 // capacity)
    assert set(fixed) == {DEFAULT_FIXED_SIZE}


def _padme_as_specified(length: int) -> int:
    """Padmé as docs/PROTOCOL.md section 5 writes it, with floating-point logarithms."""
    import math

    if length < 2:
        return length
    e = math.floor(math.log2(length))
    s = math.floor(math.log2(e)) + 1 if e > 0 else 1
    z = max(e - s, 0)
    return (length + (1 << z) - 1) & ~((1 << z) - 1)


def test_padme_matches_the_specification_text() -> None:
    for n in range(0, 70_000):
        assert padme(n) == _padme_as_specified(n), n
    allowed = [c for c in range(1, 40) if padme(c) == c]
    assert allowed == [*range(1, 9), 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 36]
