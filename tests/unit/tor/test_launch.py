from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.errors import TorLaunchError, TorNotFoundError
from gateway.tor import launch


def fake_tor(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-tor"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def test_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(TorNotFoundError, match="no tor binary"):
        launch.resolve_binary(str(tmp_path / "nope"))


def test_socket_path_too_long(tmp_path: Path) -> None:
    with pytest.raises(TorLaunchError, match="too long"):
        launch.check_socket_path(tmp_path / ("x" * 120))


def test_write_torrc_is_private(tmp_path: Path) -> None:
    path = tmp_path / "tor" / "torrc"
    launch.write_torrc(path, "SocksPort 0\n")
    assert path.read_text() == "SocksPort 0\n"
    assert path.stat().st_mode & 0o077 == 0


async def test_tor_that_fails_reports_its_problem(tmp_path: Path) -> None:
    script = fake_tor(
        tmp_path,
        'echo "Nov 21 05:32:47.000 [warn] Failed to parse/validate config: '
        "Unknown option 'Foo'.  Failing.\"\nexit 1\n",
    )
    torrc = tmp_path / "torrc"
    torrc.write_text("Foo 1\n")
    with pytest.raises(TorLaunchError, match="Unknown option 'Foo'"):
        await launch.launch_tor(str(script), torrc, tmp_path / "c.sock", timeout=10)


async def test_launch_logs_to_stdout_without_a_setconf_ownership(tmp_path: Path) -> None:
    args_file = tmp_path / "args"
    script = fake_tor(
        tmp_path,
        f'echo "$@" > {args_file}\necho "[notice] Bootstrapped 0% (starting): Starting"\n'
        "exec sleep 30\n",
    )
    torrc = tmp_path / "torrc"
    torrc.write_text("")
    launched = await launch.launch_tor(str(script), torrc, tmp_path / "c.sock", timeout=10)
    try:
        args = args_file.read_text().split()
        assert args[:2] == ["+Log", "notice"]
        assert ["-f", str(torrc)] == args[3:5]
        # ownership is taken with TAKEOWNERSHIP on the control connection instead: stem's
        # way resets __OwningControllerProcess by SETCONF, which kills a sandboxed tor
        assert args[5:] == []
        assert launch.death_reason(launched.process) is None
    finally:
        launch.stop_process(launched.process)
    assert launch.death_reason(launched.process) == "tor was killed by SIGTERM"


def test_death_reason_exit_status() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    assert launch.death_reason(proc) == "tor exited with status 3"


def test_pick_free_port_is_bindable() -> None:
    import socket

    port = launch.pick_free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 0 < port < 65536
