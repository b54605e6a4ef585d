"""Hand freed heap back to the system at quiet moments (glibc's ``malloc_trim``).

Starting a node (loading the config, bootstrapping tor, publishing the onion),
opening links (the handshakes, and the link and session code loaded by the first) and
releasing the embedding model free many small blocks; glibc keeps such memory in
the process until told otherwise. After those moments the node collects garbage
and asks glibc to return what it can. Elsewhere (musl, macOS) it only collects.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        func = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    func.argtypes = [ctypes.c_size_t]
    func.restype = ctypes.c_int
    return func


def trim() -> bool:
    """Collect garbage, then return free heap to the system; whether glibc did."""
    gc.collect()
    func = _malloc_trim()
    return func is not None and func(0) == 1


#: seconds without a new link before the node trims (links come up in bursts at start)
AFTER_LINKS_S = 5.0


class QuietTrim:
    """Trim once nothing has poked for ``delay`` seconds: one trim after a burst of links
    coming up, not one per link."""

    def __init__(self, delay: float = AFTER_LINKS_S, action: Callable[[], object] = trim) -> None:
        self.delay = delay
        self._action = action
        self._pending: asyncio.TimerHandle | None = None
        self.trims = 0

    def poke(self) -> None:
        """Something just finished: (re)start the quiet period. Needs a running loop."""
        if self._pending is not None:
            self._pending.cancel()
        self._pending = asyncio.get_running_loop().call_later(self.delay, self._fire)

    def on_link(self, contact: bytes, up: bool, dialed: bool) -> None:
        """A link hook (``LinkManager.link_hooks``): a link that came up pokes."""
        if up:
            self.poke()

    def _fire(self) -> None:
        self._pending = None
        self.trims += 1
        self._action()
