"""The image's venv works: every gateway module imports, and MiniLM embeds a sentence."""

from __future__ import annotations

import importlib
import pkgutil

import gateway
from gateway.memory.embed import load_default

modules = [m.name for m in pkgutil.walk_packages(gateway.__path__, "gateway.")
           if not m.name.endswith(".__main__")]  # fmt: skip
for name in modules:
    importlib.import_module(name)
vectors = load_default().embed(["a node that lives behind Tor"])
print(f"venv ok: {len(modules)} gateway modules import; MiniLM embeds ({vectors!r:.60})")
