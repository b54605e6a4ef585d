"""SIGINT/SIGTERM as an asyncio event."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT/SIGTERM while the block runs; restore afterwards."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    try:
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
