"""Reading the network's current consensus from an authority's DirPort."""

from __future__ import annotations

import http.client
from dataclasses import dataclass


@dataclass(frozen=True)
class ConsensusSummary:
    """What the network's consensus says, as far as readiness is concerned."""

    valid_after: str
    relays: int
    running: int
    hsdirs: int
    guards: int


def parse_consensus(text: str) -> ConsensusSummary:
    """Count the routers and their flags in a network-status consensus document."""
    valid_after = ""
    relays = running = hsdirs = guards = 0
    for line in text.splitlines():
        if line.startswith("valid-after "):
            valid_after = line[len("valid-after ") :]
        elif line.startswith("r "):
            relays += 1
        elif line.startswith("s "):
            flags = set(line.split()[1:])
            running += "Running" in flags
            hsdirs += "HSDir" in flags
            guards += "Guard" in flags
    return ConsensusSummary(valid_after, relays, running, hsdirs, guards)


def fetch_consensus(dirport: int, timeout: float = 5.0) -> ConsensusSummary | None:
    """The consensus served by the authority on ``127.0.0.1:dirport``, or None if it has none."""
    conn = http.client.HTTPConnection("127.0.0.1", dirport, timeout=timeout)
    try:
        conn.request("GET", "/tor/status-vote/current/consensus")
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    if resp.status != 200:
        return None
    return parse_consensus(body.decode("utf-8", errors="replace"))
