"""What ``GET /api/v1/status`` tells about the node itself: level, tor, bootstrap, onion."""

from __future__ import annotations

from typing import Any, TextIO

from gateway.config.schema import Level
from gateway.tor.display import ProgressDisplay
from gateway.tor.progress import BootstrapPhase

#: the node's tor states, in the order a start goes through them
TOR_STATES = ("starting", "bootstrapping", "publishing", "published", "down")


class NodeStatus:
    """The node's facts the runner updates as it goes (read by the API and the event feed)."""

    def __init__(self, level: Level) -> None:
        self.level = level
        self.tor = "starting"
        self.onion: str | None = None
        self.phase: BootstrapPhase | None = None
        self.restarts = 0

    def bootstrapping(self) -> None:
        """tor is (re)starting and bootstrapping."""
        self.tor = "bootstrapping"
        self.phase = None

    def record(self, phase: BootstrapPhase) -> None:
        """tor reported a bootstrap phase."""
        self.phase = phase
        if phase.done and self.tor == "bootstrapping":
            self.tor = "publishing"

    def published(self, onion: str) -> None:
        """The onion service is published at ``onion`` (``xxx.onion``)."""
        self.tor = "published"
        self.onion = onion

    def down(self) -> None:
        """tor stopped or died (the onion is unreachable until it is back)."""
        self.tor = "down"

    def display(self, stream: TextIO) -> StatusDisplay:
        """A progress display on ``stream`` that also records each phase here."""
        return StatusDisplay(stream, self)

    def as_json(self) -> dict[str, Any]:
        phase = self.phase
        bootstrap = None
        if phase is not None:
            bootstrap = {
                "progress": phase.progress,
                "tag": phase.tag,
                "summary": phase.summary,
                "warning": phase.warning,
                "done": phase.done,
            }
        return {
            "level": self.level.value,
            "tor": self.tor,
            "onion": self.onion,
            "bootstrap": bootstrap,
            "tor_restarts": self.restarts,
        }


class StatusDisplay(ProgressDisplay):
    """A :class:`ProgressDisplay` that also records the phases in a :class:`NodeStatus`."""

    def __init__(self, stream: TextIO, status: NodeStatus, *, tty: bool | None = None) -> None:
        super().__init__(stream, tty=tty)
        self.status = status
        status.bootstrapping()

    def show(self, phase: BootstrapPhase) -> None:
        self.status.record(phase)
        super().show(phase)
