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


def microdesc_digests(text: str) -> list[str]:
    """The microdescriptor digests (``m`` lines) of a microdesc-flavoured consensus."""
    return [line.split()[1] for line in text.splitlines() if line.startswith("m ") and " " in line]


def count_microdescs(text: str) -> int:
    """How many microdescriptors a ``/tor/micro/d/`` answer holds."""
    return sum(line.startswith("onion-key") for line in text.splitlines())


def _get(dirport: int, path: str, timeout: float) -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", dirport, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    if resp.status != 200:
        return None
    return body.decode("utf-8", errors="replace")


def fetch_consensus(dirport: int, timeout: float = 5.0) -> ConsensusSummary | None:
    """The consensus served by the authority on ``127.0.0.1:dirport``, or None if it has none."""
    text = _get(dirport, "/tor/status-vote/current/consensus", timeout)
    return None if text is None else parse_consensus(text)


def serves_client_view(dirport: int, nodes: int, timeout: float = 5.0) -> bool:
    """Whether the authority gives a client all it needs to bootstrap at once.

    That is a microdesc consensus that lists all ``nodes``, and every microdescriptor it
    names. A client that fetched a consensus an authority could not yet back with its
    microdescriptors waits out tor's download backoff (seen: 90 s stuck at 61%).
    """
    text = _get(dirport, "/tor/status-vote/current/consensus-microdesc", timeout)
    if text is None or parse_consensus(text).running < nodes:
        return False
    digests = microdesc_digests(text)
    served = _get(dirport, "/tor/micro/d/" + "-".join(digests), timeout)
    return served is not None and count_microdescs(served) == len(digests) >= nodes
