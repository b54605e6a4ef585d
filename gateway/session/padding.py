"""Record sizes allowed by each padding mode.

A *record* is what the link layer sends for one frame: the ratchet message of the
frame's inner plaintext plus the record prefix. ``overhead`` (passed by the caller)
is ``record size - inner plaintext size``: the ratchet overhead
(:meth:`~gateway.session.ratchet.RatchetState.overhead`) plus the record prefix.
The padding mode chooses the inner size so that the *record* size is allowed:

``PADME_CELLS`` (level standard)
    The minimal record size is counted in Tor relay-cell payloads (``CELL_PAYLOAD``
    = 498 bytes, rounded up) and that cell count is padded with Padmé (Nikitin et
    al., "Reducing Metadata Leakage from Encrypted Files and Communication with
    PURBs", PETS 2019): a count ``c`` with ``E = floor(log2 c)`` keeps its top
    ``floor(log2 E) + 1`` bits and has the rest rounded up, so at most
    O(log log c) bits of the size leak and the overhead is below 12 %. Applying
    Padmé to the cell count (rather than Padmé to bytes, then cell rounding) makes
    the size function idempotent, so a receiver can check a record size exactly:
    allowed sizes are ``498 * c`` with ``padme(c) == c`` (c = 1..7, 8, 10, 12, 14,
    16, 18, ..., 32, 36, 40, ...). Payloads are never split in this mode.

``BUCKETS`` (level high)
    ``BUCKET_SIZES`` = 1, 2, 4, 8, 16 and 32 cell payloads (498 ... 15936 bytes).
    A frame takes the smallest bucket it fits; payloads larger than the largest
    bucket's capacity are split into fragments (largest buckets, the last one in the
    smallest bucket that fits it).

``FIXED`` (level paranoid)
    Every record is ``fixed_size`` bytes (default ``DEFAULT_FIXED_SIZE`` = 996, two
    cell payloads): large enough for a typical control or sync message (about 900
    bytes of payload after the 96-byte header-encrypted ratchet overhead and a small
    prefix) in one record, small enough that constant-rate cover traffic costs two
    cells per tick. Longer payloads are split into fragments.
"""

from __future__ import annotations

from gateway.config.schema import PaddingMode
from gateway.errors import FrameError

#: payload bytes of one Tor relay cell
CELL_PAYLOAD = 498
#: record sizes of the BUCKETS mode
BUCKET_SIZES: tuple[int, ...] = tuple(CELL_PAYLOAD * c for c in (1, 2, 4, 8, 16, 32))
#: record size of the FIXED mode unless configured
DEFAULT_FIXED_SIZE = 2 * CELL_PAYLOAD


def padme(length: int) -> int:
    """Padmé: the smallest value >= ``length`` whose low ``E - S`` bits are zero."""
    if length < 2:
        return length
    exponent = length.bit_length() - 1
    zero_bits = exponent - exponent.bit_length()
    mask = (1 << zero_bits) - 1
    return (length + mask) & ~mask


def padme_cells(size: int) -> int:
    """The PADME_CELLS record size for a record of at least ``size`` bytes."""
    cells = max(1, -(-size // CELL_PAYLOAD))
    return padme(cells) * CELL_PAYLOAD


def max_record_size(mode: PaddingMode, *, fixed_size: int = DEFAULT_FIXED_SIZE) -> int | None:
    """The largest record a mode allows (``None``: unbounded, PADME_CELLS)."""
    if mode is PaddingMode.BUCKETS:
        return BUCKET_SIZES[-1]
    if mode is PaddingMode.FIXED:
        return fixed_size
    return None


def record_size_for(
    mode: PaddingMode, minimal: int, *, fixed_size: int = DEFAULT_FIXED_SIZE
) -> int:
    """The smallest allowed record size >= ``minimal``; FrameError if there is none."""
    if mode is PaddingMode.PADME_CELLS:
        return padme_cells(minimal)
    if mode is PaddingMode.BUCKETS:
        for bucket in BUCKET_SIZES:
            if bucket >= minimal:
                return bucket
    elif mode is PaddingMode.FIXED and minimal <= fixed_size:
        return fixed_size
    raise FrameError(f"no {mode.value} record size holds {minimal} bytes")


def is_allowed_record_size(
    mode: PaddingMode, size: int, *, fixed_size: int = DEFAULT_FIXED_SIZE
) -> bool:
    """Whether a record of ``size`` bytes may appear on a link padded with ``mode``."""
    if mode is PaddingMode.PADME_CELLS:
        cells, rest = divmod(size, CELL_PAYLOAD)
        return size > 0 and rest == 0 and padme(cells) == cells
    if mode is PaddingMode.BUCKETS:
        return size in BUCKET_SIZES
    return size == fixed_size
