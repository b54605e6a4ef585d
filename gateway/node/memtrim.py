"""Hand freed heap back to the system at quiet moments (glibc's ``malloc_trim``).

Starting a node (loading the config, bootstrapping tor, publishing the onion) and
releasing the embedding model free many small blocks; glibc keeps such memory in
the process until told otherwise. After those moments the node collects garbage
and asks glibc to return what it can. Elsewhere (musl, macOS) it only collects.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        func = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    func.argtypes = [ctypes.c_size_t]
    func.restype = ctypes.c_int
    return func


def trim() -> bool:
    """Collect garbage, then return free heap to the system; whether glibc did."""
    gc.collect()
    func = _malloc_trim()
    return func is not None and func(0) == 1
