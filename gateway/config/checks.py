"""Checks of a config against the machine: files, binaries, environment, ports.

These read the file system and environment; :func:`port_in_use` tries to bind one port on
loopback (closed at once); they start nothing and write nothing.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
from pathlib import Path

from gateway.config.fields import Section
from gateway.config.schema import ControlConfig

LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")


def resolve_binary(section: Section, name: str) -> str:
    """The absolute path of the tor binary ``name`` (looked up on PATH if it has no slash)."""
    raw = section.string(name, "tor")
    if "/" in raw:
        candidate: str | None = str((section.file.parent / Path(raw).expanduser()).resolve())
    else:
        candidate = shutil.which(raw)
    if candidate is None:
        raise section.error(name, "a tor binary on PATH or a path to one", raw, "not found")
    path = Path(candidate)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise section.error(name, "an executable tor binary", raw, "not found or not executable")
    return str(path)


def check_testnet(section: Section, name: str, testnet: Path) -> None:
    """A testnet dir must exist and hold ``client.conf`` (``gateway testnet up --dir DIR``)."""
    if not testnet.is_dir():
        raise section.error(
            name, "a testnet directory (gateway testnet up --dir DIR)", str(testnet)
        )
    conf = testnet / "client.conf"
    if not conf.is_file() or not os.access(conf, os.R_OK):
        raise section.error(
            name, "a testnet directory holding client.conf", str(testnet), "client.conf missing"
        )


def check_attach(section: Section, control: ControlConfig) -> None:
    """Attach mode needs a reachable control port or an existing socket, and usable auth."""
    sub = section.sub("control")
    if control.port is None and control.socket is None:
        raise section.error(
            "control", "control.port or control.socket in attach mode", None, "neither is set"
        )
    if control.socket is not None:
        try:
            mode = control.socket.stat().st_mode
        except OSError:
            raise sub.error("socket", "an existing control socket", str(control.socket)) from None
        if not stat.S_ISSOCK(mode):
            raise sub.error("socket", "a unix socket", str(control.socket), "not a socket")
    if control.cookie_path is not None:
        _check_readable(sub, "cookie_path", control.cookie_path)
    if control.password_env is not None and control.password_env not in os.environ:
        raise sub.error(
            "password_env",
            "the name of a set environment variable",
            control.password_env,
            "variable is not set",
        )


def _check_readable(section: Section, name: str, path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise section.error(name, "a readable file", str(path), exc.strerror) from None


def check_launch_only(section: Section, control: ControlConfig) -> None:
    """In launch mode the node owns tor's control socket; control.* must stay unset."""
    sub = section.sub("control")
    for key in ("port", "socket", "password_env", "cookie_path"):
        if getattr(control, key) is not None:
            raise sub.error(
                key, "null in launch mode", sub.data[key], "only used when tor.mode is attach"
            )


def check_loopback(section: Section, name: str) -> str:
    host = section.string(name, "127.0.0.1")
    if host not in LOOPBACK_HOSTS:
        raise section.error(
            name, "a loopback host: 127.0.0.1, ::1 or localhost", host, "never 0.0.0.0"
        )
    return host


def port_in_use(host: str, port: int) -> str | None:
    """Why ``port`` cannot be bound on loopback (as the server will bind it), or None."""
    if port == 0:
        return None
    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    addr = "::1" if host == "::1" else "127.0.0.1"
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((addr, port))
        except OSError as exc:
            return "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
    return None
