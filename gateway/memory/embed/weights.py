"""Model weights: read from a safetensors file, laid out once for fast, shared use.

The safetensors file in the model's package stores each tensor at an arbitrary byte
offset, row-major as the model was trained. Matrix products are fastest on aligned,
contiguous arrays in the order they are multiplied in, so :func:`prepared` writes the
tensors once (linear layers transposed, every tensor 64-byte aligned) into a cache
file and maps it read-only: every node on the machine shares the same pages.
When no cache directory is writable the prepared arrays live in private memory.

:func:`release_pages` hands the mapped pages back (they stay in the page cache, shared):
an idle node's resident memory then no longer counts the model, and the next use maps
them again from the cache in a few milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gateway.errors import EmbeddingError

Array = npt.NDArray[np.float32]
_ALIGN = 64
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """Every tensor of a safetensors file, as read-only arrays over a mapping of it."""
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        raw = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError, struct.error) as exc:
        raise EmbeddingError(f"cannot read model weights {path}: {exc}") from exc
    base = 8 + size
    tensors: dict[str, npt.NDArray[np.generic]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise EmbeddingError(f"{path}: tensor {name} has unsupported dtype {info.get('dtype')}")
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(raw[base + start : base + end], dtype=dtype).reshape(
            info["shape"]
        )
    return tensors


def cache_dir() -> Path:
    """Where prepared weights are kept: $GATEWAY_CACHE_DIR, systemd's $CACHE_DIRECTORY,
    $XDG_CACHE_HOME/gateway or ~/.cache/gateway."""
    for var in ("GATEWAY_CACHE_DIR", "CACHE_DIRECTORY"):
        if os.environ.get(var):
            return Path(os.environ[var].split(":")[0])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gateway"


def prepared(
    source: Path, transform: Callable[[Mapping[str, npt.NDArray[np.generic]]], dict[str, Array]]
) -> dict[str, Array]:
    """``transform(tensors of source)``, through a shared cache file when one can be kept."""
    digest = hashlib.sha256(f"{source.resolve()}:{source.stat().st_size}".encode()).hexdigest()
    target = cache_dir() / f"{source.parent.name}-{digest[:16]}.f32"
    if target.exists():
        try:
            return _load(target)
        except (OSError, ValueError, KeyError, struct.error):
            pass  # damaged or from another layout: written again below
    arrays = transform(read_safetensors(source))
    try:
        _store(target, arrays)
        return _load(target)
    except OSError:
        return arrays  # no writable cache: private memory


def release_pages(arrays: Mapping[str, npt.NDArray[np.generic]]) -> int:
    """Drop this process's mapping of the file pages under ``arrays`` (madvise
    MADV_DONTNEED on a read-only file mapping: the data is untouched and read back on
    the next access); how many mappings were released (0 for arrays in private memory)."""
    maps: dict[int, mmap.mmap] = {}
    for array in arrays.values():
        base: object = array
        while base is not None and not isinstance(base, mmap.mmap):
            base = getattr(base, "base", None)
        if isinstance(base, mmap.mmap):
            maps[id(base)] = base
    for mapping in maps.values():
        mapping.madvise(mmap.MADV_DONTNEED)
    return len(maps)


def _store(target: Path, arrays: Mapping[str, Array]) -> None:
    index: dict[str, tuple[int, list[int]]] = {}
    offset = 0
    for name, array in arrays.items():
        index[name] = (offset, list(array.shape))
        offset += -(-array.nbytes // _ALIGN) * _ALIGN
    head = json.dumps(index).encode()
    start = -(-(8 + len(head)) // _ALIGN) * _ALIGN
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".weights-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(head)) + head)
            for name, array in arrays.items():
                f.seek(start + index[name][0])
                f.write(np.ascontiguousarray(array, dtype=np.float32).tobytes())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path) -> dict[str, Array]:
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        index = json.loads(f.read(size))
    start = -(-(8 + size) // _ALIGN) * _ALIGN
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    out: dict[str, Array] = {}
    for name, (offset, shape) in index.items():
        count = int(np.prod(shape))
        view = raw[start + offset : start + offset + 4 * count]
        if view.size != 4 * count:
            raise ValueError(f"{path}: tensor {name} is truncated")
        out[name] = np.frombuffer(view, dtype=np.float32).reshape(shape)
    return out
