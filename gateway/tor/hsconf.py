"""``HiddenServiceDir`` blocks of a running tor's configuration (sans-I/O).

``SETCONF`` of any ``HiddenService*`` option replaces *all* onion services of
a tor, so adding ours to an attached tor means: read the current blocks
(``GETCONF HiddenServiceOptions``), append ours, and set them all again; and
on shutdown, set them again without ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

Option = tuple[str, str]
Block = tuple[Option, ...]


def parse_getconf_lines(lines: Iterable[str]) -> list[Option]:
    """``key=value`` lines of a GETCONF reply as pairs (lines without ``=`` dropped)."""
    pairs: list[Option] = []
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


def split_blocks(pairs: Sequence[Option]) -> list[Block]:
    """Group options into blocks, each starting at a ``HiddenServiceDir``."""
    blocks: list[list[Option]] = []
    for key, value in pairs:
        if key.lower() == "hiddenservicedir":
            blocks.append([(key, value)])
        elif blocks:
            blocks[-1].append((key, value))
    return [tuple(b) for b in blocks]


def block_dir(block: Block) -> str:
    return block[0][1]


def our_block(
    hs_dir: Path, virtual_port: int, target: str, per_service: Sequence[Option] = ()
) -> Block:
    """Our service: its directory, port line, then the level's per-service options."""
    return (
        ("HiddenServiceDir", str(hs_dir)),
        ("HiddenServicePort", f"{virtual_port} {target}"),
        *per_service,
    )


def without_dir(blocks: Sequence[Block], hs_dir: Path) -> list[Block]:
    """The blocks that do not belong to ``hs_dir``."""
    return [b for b in blocks if Path(block_dir(b)) != hs_dir]


def flatten(blocks: Sequence[Block]) -> list[Option]:
    """The ordered pairs for one ``SETCONF``."""
    return [pair for block in blocks for pair in block]
