"""The fault modes of the scripted AI, apart from it: the config names them, and a node
loads the scripted adapter (:mod:`gateway.converge.adapters.scripted`) only to use one."""

from __future__ import annotations

import enum


class ScriptedFault(enum.Enum):
    """How a scripted AI (and, in simulations, its peer) misbehaves."""

    NONE = "none"
    TIMEOUT = "timeout"  # never answers in time
    GARBAGE = "garbage"  # answers noise
    EQUIVOCATE = "equivocate"  # a different answer on every call
    OFFLINE = "offline"  # fails at once
