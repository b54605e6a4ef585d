"""Reaching an onion again after a failed dial: tor's client state for one onion.

When a contact's node restarts, our tor may still hold its old descriptor. Tor can then
be left with a rendezvous circuit whose introduction was acknowledged but whose
service never joins it (``HS_STATE=HSCR_ESTABLISHED_WAITING``); every new stream to
that onion attaches to that circuit and stalls until SOCKS times out, for minutes.
Asking for a new descriptor (``HSFETCH``) is not enough while that circuit stands.

:func:`unjoined_circuits` reads ``GETINFO circuit-status`` (control-spec 4.1.1:
``PURPOSE``, ``HS_STATE`` and ``REND_QUERY`` of each circuit) and names our client
circuits for one onion that carry no joined rendezvous; :func:`refresh` closes them
and fetches the descriptor again, so the next dial starts clean. Nothing else is
touched: other onions' circuits and joined rendezvous circuits stay.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.tor.controller import TorControl

log = logging.getLogger("gateway.tor")

#: client circuit purposes of an onion (introduction, rendezvous)
CLIENT_PURPOSES = frozenset({"HS_CLIENT_INTRO", "HS_CLIENT_REND"})
#: the rendezvous state of a circuit that carries streams: left alone
JOINED = "HSCR_JOINED"


def _bare(onion: str) -> str:
    return onion.strip().lower().removesuffix(".onion")


def unjoined_circuits(circuit_status: str, onion: str) -> list[str]:
    """Ids of client introduction and not-yet-joined rendezvous circuits for ``onion``."""
    want = _bare(onion)
    found = []
    for line in circuit_status.splitlines():
        words = line.split()
        if len(words) < 2 or not words[0].isdigit():
            continue
        keys = dict(w.split("=", 1) for w in words[2:] if "=" in w)
        if keys.get("PURPOSE") not in CLIENT_PURPOSES or keys.get("HS_STATE") == JOINED:
            continue
        query = keys.get("REND_QUERY", "")
        if query and _bare(query) == want:
            found.append(words[0])
    return found


async def refresh(control: TorControl, onion: str) -> int:
    """Close ``onion``'s unjoined client circuits, then ``HSFETCH`` it; how many closed.

    A control port that refuses ``GETINFO circuit-status`` (a filtering proxy in front of
    a system tor) still gets the ``HSFETCH``.
    """
    closed = 0
    try:
        status = await control.get_info("circuit-status")
    except GatewayError as exc:
        log.debug("circuit-status refused (%s): only refetching %s", exc, _bare(onion)[:8])
        status = ""
    for circuit in unjoined_circuits(status, onion):
        reply = await control.call(control.stem.msg, f"CLOSECIRCUIT {circuit}")
        closed += reply.is_ok()  # 552: it closed meanwhile
    await control.call(control.stem.msg, f"HSFETCH {_bare(onion)}")
    return closed
