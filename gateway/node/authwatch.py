"""Watches the client-authorization files tor reads only when it starts.

Invites, pairings and removals change ``<state>/hs/authorized_clients/`` (who may
reach our onion) and ``<state>/client_auth/`` (our keys to reach contacts'
onions). tor reads both at start; a reload would do, but under ``Sandbox 1``
(PARANOID) a reload makes tor exit, so the node restarts its tor instead, with
the same onion address.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("gateway.node")

INTERVAL = 1.0


def fingerprint(folders: tuple[Path, ...]) -> tuple[tuple[str, bytes], ...]:
    """Names and content digests of the files in ``folders`` (missing folders are empty).

    By content, not mtime: rewriting a file with the same key (a pairing writes again the
    key its invite already authorized) is no change, and must not restart tor.
    """
    entries = []
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                try:
                    digest = hashlib.sha256(path.read_bytes()).digest()
                except OSError:  # removed meanwhile, or not a file
                    continue
                entries.append((str(path), digest))
    return tuple(entries)


async def watch(
    folders: tuple[Path, ...], on_change: Callable[[], None], what: str = "applying it"
) -> None:
    """Call ``on_change`` whenever the files in ``folders`` change (until cancelled).

    ``what`` says in the log what the change leads to ("restarting tor to apply it").
    """
    seen = fingerprint(folders)
    while True:
        await asyncio.sleep(INTERVAL)
        now = fingerprint(folders)
        if now != seen:
            log.info("client authorization changed: %s", what)
            seen = now
            on_change()
