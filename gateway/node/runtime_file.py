"""The running node's runtime file: ``<state>/node.json`` (0600).

Written when the onion service is published (and again after a tor restart),
removed on a clean stop. Local commands (``gateway ping``) read it to find the
running node's SOCKS port. It holds no secret, but it ties the onion address to
this machine, so it is private like the rest of the state directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from gateway.errors import StateError
from gateway.state.paths import StatePaths, read_private, write_private

FILE_NAME = "node.json"


@dataclass(frozen=True)
class RuntimeInfo:
    pid: int
    onion: str
    socks_port: int | None
    #: the local API: ``http://127.0.0.1:PORT`` or ``unix:PATH`` ("" when none)
    api: str = ""
    #: the loopback port tor forwards the onion to (the node's front door)
    front_port: int | None = None


def runtime_path(paths: StatePaths) -> Path:
    return paths.root / FILE_NAME


def write_runtime(paths: StatePaths, info: RuntimeInfo) -> None:
    write_private(runtime_path(paths), json.dumps(asdict(info)).encode())


def remove_runtime(paths: StatePaths) -> None:
    runtime_path(paths).unlink(missing_ok=True)


def read_runtime(paths: StatePaths) -> RuntimeInfo:
    """The running node's info; StateError if no node runs on this state directory."""
    path = runtime_path(paths)
    if not path.exists():
        raise StateError(f"no running node: {path} is missing (start it with 'gateway run')")
    try:
        data = json.loads(read_private(path))
        info = RuntimeInfo(
            int(data["pid"]),
            str(data["onion"]),
            data["socks_port"],
            str(data.get("api", "")),
            data.get("front_port"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError(f"{path}: unreadable runtime file: {exc}") from exc
    if not Path(f"/proc/{info.pid}").exists():
        raise StateError(f"no running node: {path} names pid {info.pid}, which has exited")
    return info


def this_process(
    onion: str, socks_port: int | None, api: str = "", front_port: int | None = None
) -> RuntimeInfo:
    return RuntimeInfo(os.getpid(), onion, socks_port, api, front_port)
