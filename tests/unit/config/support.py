"""Helpers shared by the config, state and cli unit tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.cli import main


def write_config(folder: Path, text: str, name: str = "node.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, int]:
    """Every path under ``folder`` with its size (files) or -1 (dirs)."""
    out: dict[str, int] = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.join(root, d)] = -1
        for f in files:
            p = os.path.join(root, f)
            out[p] = os.path.getsize(p)
    return out


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``gateway`` in-process; returns (status, stdout, stderr)."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def tor_binary() -> str | None:
    """The tor binary; under CI=true a missing tor fails the test instead of skipping it."""
    tor = shutil.which("tor")
    if tor is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tor is not installed but CI=true requires it")
        pytest.skip("tor is not installed")
    return tor


def tor_verify(torrc: Path) -> subprocess.CompletedProcess[str]:
    tor = tor_binary()
    assert tor is not None
    return subprocess.run(
        [tor, "--verify-config", "-f", str(torrc)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
