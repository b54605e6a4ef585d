"""Limits of a round that the node's config checks too, apart from the round machinery
(:mod:`gateway.converge.round`), which a node loads with its first round."""

from __future__ import annotations

MAX_QUESTION_BYTES = 32 * 1024
