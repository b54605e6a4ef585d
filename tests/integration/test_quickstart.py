"""The quickstart as a new user runs it: twice in a row, and a failed run that cleans up.

``scripts/quickstart.py`` is run as a subprocess, as ``./scripts/quickstart.sh`` runs it
(scripted AIs keep it quick). The reruns use the session's private network
(``--network``); the failing run starts its own, to see that its tor processes are
stopped too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from gateway.testnet import TestNetwork
from tests.integration.support import tor_pids

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scripts" / "quickstart.py"


def quickstart(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(QUICKSTART), "--ai", "scripted", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def processes_mentioning(marker: Path) -> list[str]:
    """Live processes whose command line mentions ``marker``: their command lines."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" not in status and str(marker).encode() in argv:
            found.append(argv.replace(b"\0", b" ").decode(errors="replace"))
    return found


def test_quickstart_runs_twice_in_a_row(testnet: TestNetwork, tmp_path: Path) -> None:
    """The first run keeps its nodes running (``--keep``); the second stops them (their
    state and ports are its own), reuses keys and pairing, and runs every step again."""
    base = tmp_path / "qs"
    args = ("--dir", str(base), "--network", str(testnet.directory))
    first = quickstart(*args, "--keep")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "bob's inbox: 'hello bob, from alice, through Tor'" in first.stdout
    assert "left running" in first.stdout
    assert len([p for p in processes_mentioning(base) if p.endswith(" run ")]) == 2

    second = quickstart(*args)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "stopping alice's node left running by an earlier run" in second.stdout
    assert "reusing" in second.stdout
    assert "already paired by an earlier run" in second.stdout
    assert "bob's inbox: 'hello bob, from alice, through Tor'" in second.stdout
    assert "convergence: " in second.stdout
    assert processes_mentioning(base) == []

    stopped = quickstart(*args, "--stop")  # nothing left to stop: says so quietly
    assert stopped.returncode == 0, stopped.stderr
    assert "stopping alice" not in stopped.stdout


def test_a_failed_run_with_keep_leaves_nothing_running(tmp_path: Path) -> None:
    """alice's config is broken, so her node cannot start: the run fails after the network
    and bob's node (started first) are up, and ``--keep`` must not leave them behind."""
    from tests.integration.conftest import require_tor

    require_tor()
    base = tmp_path / "qs"
    base.mkdir()
    (base / "alice.yaml").write_text(yaml.safe_dump({"node": {"name": "alice", "colour": "blue"}}))
    failed = quickstart("--dir", str(base), "--keep")
    assert failed.returncode != 0, failed.stdout[-3000:]
    assert "bob: " in failed.stdout  # bob's node was running when alice's failed
    assert "left running" not in failed.stdout
    assert tor_pids(base) == []
    assert processes_mentioning(base) == []
