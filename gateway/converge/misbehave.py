"""How a peer whose scripted AI has a fault mode misbehaves on the wire (demos and tests).

The same rules drive the simulator and live nodes: ``offline`` and ``timeout``
peers send nothing in time, ``garbage`` peers send noise instead of their
messages, and ``equivocating`` peers send two different reveals.
"""

from __future__ import annotations

import random

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.converge.adapters.scripted import ScriptedFault
from gateway.converge.commit import make_reveal
from gateway.converge.messages import Kind, decode


def outgoing(
    fault: ScriptedFault, key: Ed25519PrivateKey, data: bytes, rng: random.Random
) -> list[bytes]:
    """What a participant with ``fault`` actually sends instead of ``data`` (may be nothing)."""
    if fault in (ScriptedFault.OFFLINE, ScriptedFault.TIMEOUT):
        return []
    if fault is ScriptedFault.GARBAGE:
        return [rng.randbytes(rng.randint(1, 300))]
    if fault is ScriptedFault.EQUIVOCATE:
        msg = decode(data)
        if msg.kind is Kind.REVEAL:
            rid, nonce = (bytes.fromhex(msg.body[k]) for k in ("round_id", "nonce"))
            other = make_reveal(key, rid, msg.body["answer"] + " (or not)", nonce)
            return [data, other.raw]
    return [data]
