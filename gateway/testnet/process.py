"""Starting, finding and stopping the tor processes of the network."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from gateway.errors import TestnetError

#: seconds a started tor gets to write its PidFile before it counts as dead
STARTUP_GRACE = 10.0


def spawn(tor: str, torrc: Path, defaults: Path, owner_pid: int | None) -> subprocess.Popen[bytes]:
    """Start one tor in its own session. With ``owner_pid`` it exits when that process does."""
    argv = [tor, "--defaults-torrc", str(defaults), "-f", str(torrc)]
    if owner_pid is not None:
        argv += ["__OwningControllerProcess", str(owner_pid)]
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise TestnetError(f"cannot start {tor}: {exc}") from exc


def pid_of(torrc: Path, pid_file: Path) -> int | None:
    """The pid of the live tor that runs ``torrc``, from its PidFile, or None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if runs_torrc(pid, torrc) else None


def runs_torrc(pid: int, torrc: Path) -> bool:
    """Whether ``pid`` is alive and is a tor started with ``torrc``."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    if "\nState:\tZ" in status:
        return False
    return str(torrc).encode() in raw.split(b"\0")


def stop_pids(pids: list[int], *, grace: float = 5.0) -> None:
    """SIGTERM every pid, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.05)
    if alive:
        raise TestnetError(f"tor processes still running after SIGKILL: {alive}")


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def log_tail(log: Path, lines: int = 5) -> str:
    """The last warnings or lines of a tor notice log, for error messages."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    warns = [line for line in text if "[warn]" in line or "[err]" in line]
    return " | ".join((warns or text)[-lines:])
