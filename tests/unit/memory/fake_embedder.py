"""A deterministic stand-in embedder for the unit tests: hashed bag of words."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from gateway.memory.embed import Vectors


class BagOfWords:
    """Each word adds a fixed pseudo-random direction; texts sharing words are similar."""

    def __init__(self, name: str = "fake-bow", dim: int = 64) -> None:
        self.name = name
        self.dim = dim
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big")
                out[row] += np.random.default_rng(seed).standard_normal(self.dim)
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else out[row]
        return out
