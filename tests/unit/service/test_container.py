"""The container: its Dockerfile's promises, its entrypoint, and the health check command.

No container runtime runs here (and base images cannot be pulled), so the image itself
is not built in the suite; its entrypoint and health check are run as the image would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.cli import main

ROOT = Path(__file__).resolve().parents[3]


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined), in order."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def test_the_image_runs_unprivileged_with_state_in_a_volume() -> None:
    steps = instructions()
    words = [w for w, _ in steps]
    assert steps[0][0] == "FROM" and steps[0][1].startswith("debian:")
    assert any(w == "RUN" and "apt-get install" in r and " tor " in r for w, r in steps)
    user = [r for w, r in steps if w == "USER"]
    assert user == ["gateway"]  # never root
    assert words.index("USER") < words.index("ENTRYPOINT")
    assert ("VOLUME", '["/var/lib/gateway"]') in steps
    health = [r for w, r in steps if w == "HEALTHCHECK"]
    assert len(health) == 1 and '"status", "--check"' in health[0]
    assert not [r for w, r in steps if w == "EXPOSE"]  # reached through Tor only


@pytest.fixture
def gateway_bin(tmp_path: Path) -> Path:
    """A ``gateway`` executable for this interpreter (the image's is on PATH)."""
    path = tmp_path / "gateway"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gateway "$@"\n')
    path.chmod(0o755)
    return path


def entrypoint(home: Path, gateway_bin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_HOME": str(home), "GATEWAY_BIN": str(gateway_bin),
           "GATEWAY_LEVEL": "high"}  # fmt: skip
    return subprocess.run(
        ["sh", str(ROOT / "docker" / "entrypoint.sh"), *args],
        env=env, capture_output=True, text=True, timeout=60, cwd=home,
    )  # fmt: skip


def test_the_entrypoint_makes_the_node_once_then_runs_the_command(
    tmp_path: Path, gateway_bin: Path
) -> None:
    home = tmp_path / "volume"
    home.mkdir()
    first = entrypoint(home, gateway_bin, "config", "show")
    assert first.returncode == 0, first.stderr
    config = yaml.safe_load((home / "node.yaml").read_text())
    assert config["security"]["level"] == "high"
    assert (home / "node" / "keys").is_dir() or any((home / "node").iterdir())
    assert "security.level" in first.stdout
    before = (home / "node.yaml").stat().st_mtime_ns
    again = entrypoint(home, gateway_bin, "config", "show")
    assert again.returncode == 0, again.stderr
    assert (home / "node.yaml").stat().st_mtime_ns == before  # made once, kept


def test_the_health_check_fails_without_a_running_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(f"node:\n  state_dir: {tmp_path / 'state'}\n")
    assert main(["--config", str(config), "status", "--check"]) == 1
    assert capsys.readouterr().out.startswith("unhealthy: ")
