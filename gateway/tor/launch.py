"""Starting the node's own tor with stem, and stopping it again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import stem.process

from gateway.errors import TorLaunchError, TorNotFoundError

log = logging.getLogger("gateway.tor")

#: the longest path a unix socket address can hold on Linux (108 bytes with the NUL)
MAX_SOCKET_PATH = 107
#: seconds tor gets to exit after SIGTERM before it is killed
STOP_GRACE = 10.0

_PROBLEM = re.compile(r"\[(warn|err)\] (.*)$")


@dataclass(frozen=True)
class LaunchedTor:
    """A tor process we started and own."""

    process: subprocess.Popen[bytes]
    control_socket: Path
    torrc_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def pick_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def resolve_binary(binary: str) -> str:
    """The tor executable to run; TorNotFoundError if there is none."""
    found = shutil.which(binary)
    if found is None:
        raise TorNotFoundError(f"no tor binary at {binary!r} (set tor.binary or install tor)")
    return found


def check_socket_path(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise TorLaunchError(
            f"control socket path is too long for a unix socket ({path}); "
            "use a shorter node.state_dir"
        )


def write_torrc(path: Path, text: str) -> None:
    """Write the torrc, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


async def launch_tor(
    binary: str, torrc_path: Path, control_socket: Path, *, timeout: float
) -> LaunchedTor:
    """Start tor on ``torrc_path`` and return once its control socket is open.

    The caller takes ownership over the control connection (``TAKEOWNERSHIP``,
    see :func:`gateway.tor.session.start_launched`): tor then exits when that
    connection closes, which it does when this process dies. stem's own
    ``take_ownership`` is not used: it resets ``__OwningControllerProcess`` with a
    SETCONF, and under ``Sandbox 1`` with a HiddenServiceDir any SETCONF makes
    tor exit.
    """
    tor_cmd = resolve_binary(binary)
    check_socket_path(control_socket)
    problems: list[str] = []
    cancelled = False

    def on_line(line: str) -> None:
        log.debug("tor: %s", line)
        match = _PROBLEM.search(line)
        if match:
            problems.append(match.group(2))
        if cancelled:
            raise TorLaunchError("launch abandoned")

    def start() -> subprocess.Popen[bytes]:
        process: subprocess.Popen[bytes] = stem.process.launch_tor(
            tor_cmd,
            args=["+Log", "notice stdout"],
            torrc_path=str(torrc_path),
            completion_percent=0,
            init_msg_handler=on_line,
            timeout=None,
            take_ownership=False,
        )
        return process

    try:
        process = await asyncio.wait_for(asyncio.to_thread(start), timeout)
    except TimeoutError:
        cancelled = True
        raise TorLaunchError(f"tor did not start within {timeout:g} s") from None
    except OSError as exc:
        detail = "; ".join(problems[-3:]) or str(exc)
        raise TorLaunchError(f"tor did not start: {detail}") from exc
    log.debug("tor started (pid %d)", process.pid)
    return LaunchedTor(process, control_socket, torrc_path)


def death_reason(process: subprocess.Popen[bytes]) -> str | None:
    """Why the tor process is gone, or None while it runs."""
    code = process.poll()
    if code is None:
        return None
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"tor was killed by {signal.Signals(-code).name}"
    return f"tor exited with status {code}"


def stop_process(process: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
    """Terminate tor and reap it; kill it if it does not exit within ``grace``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
