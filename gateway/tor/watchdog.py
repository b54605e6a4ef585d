"""What to do when tor dies under a running node (sans-I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.config.schema import OnTorDeath
from gateway.errors import TorDiedError


class Action(enum.Enum):
    RESTART = "restart"
    EXIT = "exit"


@dataclass(frozen=True)
class Decision:
    action: Action
    #: one line for the log or the error message
    message: str

    def error(self) -> TorDiedError:
        return TorDiedError(self.message)


def decide(policy: OnTorDeath, reason: str, *, restarts_done: int, max_restarts: int) -> Decision:
    """Restart tor, or exit, after tor died for ``reason``.

    ``restarts_done`` counts the restarts already made during this run.
    """
    if policy is OnTorDeath.EXIT:
        return Decision(Action.EXIT, f"tor died ({reason}); on_tor_death is 'exit'")
    if restarts_done >= max_restarts:
        return Decision(
            Action.EXIT,
            f"tor died ({reason}); gave up after {restarts_done} restart(s) "
            f"(tor.max_restarts is {max_restarts})",
        )
    return Decision(
        Action.RESTART,
        f"tor died ({reason}); restarting it ({restarts_done + 1} of {max_restarts})",
    )
