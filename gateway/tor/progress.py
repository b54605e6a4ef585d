"""Tor bootstrap progress: parsing, tracking and rendering (sans-I/O).

tor reports its bootstrap phase as a line of keywords, both in
``GETINFO status/bootstrap-phase`` and in ``STATUS_CLIENT`` events::

    NOTICE BOOTSTRAP PROGRESS=45 TAG=loading_descriptors SUMMARY="Loading relay descriptors"
    WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting" WARNING="Connection refused" ...

This module turns such lines into :class:`BootstrapPhase` values, keeps the
latest phase and tor's warnings in a :class:`BootstrapTracker`, and renders a
phase as a plain log line or a one-line progress bar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.errors import BootstrapError

_KEYWORD = re.compile(r'([A-Za-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')
_UNESCAPE = re.compile(r"\\(.)")

#: at most this many tor warnings are kept for an error message
MAX_WARNINGS = 20


@dataclass(frozen=True)
class BootstrapPhase:
    """One bootstrap report of tor."""

    progress: int
    tag: str
    summary: str
    #: tor's problem description when the report is a warning
    warning: str | None = None

    @property
    def done(self) -> bool:
        return self.progress >= 100

    def describe(self) -> str:
        """``45% (loading_descriptors): Loading relay descriptors``."""
        return f"{self.progress}% ({self.tag}): {self.summary}"


def parse_keywords(text: str) -> dict[str, str]:
    """The ``KEY=value`` pairs of a control-protocol line; quoted values are unescaped."""
    result: dict[str, str] = {}
    for match in _KEYWORD.finditer(text):
        key, value = match.group(1), match.group(2)
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = _UNESCAPE.sub(r"\1", value[1:-1])
        result[key.upper()] = value
    return result


def parse_bootstrap_phase(line: str) -> BootstrapPhase | None:
    """The phase in a ``BOOTSTRAP`` status line, or ``None`` if the line is not one."""
    head, sep, rest = line.partition("BOOTSTRAP ")
    if not sep:
        return None
    words = parse_keywords(rest)
    try:
        progress = int(words["PROGRESS"])
    except (KeyError, ValueError):
        return None
    if not 0 <= progress <= 100:
        return None
    warning = words.get("WARNING") if "WARN" in head.upper() else None
    return BootstrapPhase(
        progress=progress,
        tag=words.get("TAG", "unknown"),
        summary=words.get("SUMMARY", ""),
        warning=warning,
    )


def render_line(phase: BootstrapPhase) -> str:
    """A plain log line for a phase (for output that is not a terminal)."""
    return f"bootstrap {phase.describe()}"


def render_bar(phase: BootstrapPhase, width: int = 30) -> str:
    """A one-line progress bar for a terminal (no line ending)."""
    filled = phase.progress * width // 100
    bar = "#" * filled + "." * (width - filled)
    return f"[{bar}] {phase.progress:3d}% {phase.tag}: {phase.summary}"


@dataclass
class BootstrapTracker:
    """The latest bootstrap phase and the warnings tor logged on the way."""

    last: BootstrapPhase | None = None
    warnings: list[str] = field(default_factory=list)
    _shown: int = -1

    @property
    def done(self) -> bool:
        return self.last is not None and self.last.done

    def on_phase(self, phase: BootstrapPhase) -> bool:
        """Record a phase; return whether it is news worth showing (progress went up).

        tor's reports can step back (a new circuit attempt, or an event that
        arrives after a newer poll); those are kept but not shown again.
        """
        if phase.warning:
            self.on_warning(f"{phase.tag}: {phase.warning}")
        news = self.last is None or phase.progress > self._shown
        self._shown = max(self._shown, phase.progress)
        self.last = phase
        return news

    def on_warning(self, message: str) -> None:
        """Record one of tor's WARN/ERR messages (duplicates are kept once)."""
        message = message.strip()
        if not message or message in self.warnings:
            return
        self.warnings.append(message)
        del self.warnings[:-MAX_WARNINGS]

    def error(self, message: str) -> BootstrapError:
        """A :class:`BootstrapError` carrying the last phase and the warnings."""
        last = self.last.describe() if self.last is not None else None
        return BootstrapError(message, last_phase=last, warnings=tuple(self.warnings))
