"""Showing bootstrap progress: a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

from typing import TextIO

from gateway.tor.progress import BootstrapPhase, render_bar, render_line


class ProgressDisplay:
    """Writes each new bootstrap phase to ``stream`` (normally stderr)."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._open_bar = False

    def show(self, phase: BootstrapPhase) -> None:
        if self._tty:
            self._stream.write("\r\x1b[K" + render_bar(phase))
            self._open_bar = True
        else:
            self._stream.write(render_line(phase) + "\n")
        self._stream.flush()

    def finish(self) -> None:
        """End the bar's line so later output starts on a fresh line."""
        if self._open_bar:
            self._stream.write("\n")
            self._stream.flush()
            self._open_bar = False
