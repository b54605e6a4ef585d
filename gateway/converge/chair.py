"""The chair: picked deterministically among the participants that revealed."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from gateway.errors import RoundError

_DOMAIN = b"gateway/converge/chair\x00"


def pick_chair(round_id: bytes, revealed: Mapping[bytes, bytes]) -> bytes:
    """The chair's key, from the round id and the revealed commitments.

    ``revealed`` maps authors to commitments. Mixing in the commitments (which
    the asker cannot predict when it picks the round id) keeps the asker from
    grinding round ids to choose the chair.
    """
    if not revealed:
        raise RoundError("no participant revealed an answer, so there is no chair")
    authors = sorted(revealed)
    h = hashlib.sha256(_DOMAIN + round_id)
    for author in authors:
        h.update(revealed[author])
    return authors[int.from_bytes(h.digest(), "big") % len(authors)]
