"""What a failed bootstrap through bridges means: tor reached none of them.

With ``UseBridges 1`` tor talks to nothing but its bridges, so a bootstrap that ends
before tor's first relay connection (phase ``conn_done``, 10%) ended in the bridge
phase: no bridge answered through its transport. The error then says so and names
the bridges, instead of leaving a user to read it out of tor's warnings.
"""

from __future__ import annotations

import re

from gateway.config.bridges import BridgeLine
from gateway.errors import BootstrapError

#: tor's bootstrap progress once it holds a connection to a relay (a bridge here)
CONN_DONE = 10
_PROGRESS = re.compile(r"(\d{1,3})%")


def in_bridge_phase(last_phase: str | None) -> bool:
    """Whether a bootstrap that stopped at ``last_phase`` never got through to a bridge."""
    if last_phase is None:
        return True
    match = _PROGRESS.match(last_phase)
    return match is not None and int(match.group(1)) < CONN_DONE


def through_bridges(error: BootstrapError, bridges: tuple[BridgeLine, ...]) -> BootstrapError:
    """``error`` restated for a tor that uses ``bridges`` (unchanged past the bridge phase)."""
    if not bridges or not in_bridge_phase(error.last_phase):
        return error
    named = ", ".join(f"{b.transport or 'plain'} {b.address}" for b in bridges)
    return BootstrapError(
        f"tor reached none of its bridges ({named}): the bootstrap stopped in the bridge "
        "phase; check that the bridge lines are current and the transport can get out "
        f"(gateway bridges test); {error.args[0]}",
        last_phase=None,
        warnings=(),
    )
