"""Helpers for integration tests that run ``gateway`` nodes as subprocesses."""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import python_socks
import yaml
from python_socks.async_.asyncio import Proxy

from gateway.testnet import TestNetwork, TorClient
from gateway.tor.socks import SOCKS_ERRORS

START_TIMEOUT = 180.0
#: what a failed GET through the SOCKS proxy raises
REACH_ERRORS = SOCKS_ERRORS


def require_local_ai() -> None:
    """The local-ai extra (llama.cpp's server and the bundled model)."""
    from gateway.converge.localai import is_available
    from tests.needs import need

    need(is_available(), "the local-ai extra is not installed (./scripts/setup.sh --local-ai)")


# --- helpers -------------------------------------------------------------------


def make_node(
    tmp_path: Path,
    testnet: TestNetwork,
    level: str = "standard",
    *,
    name: str = "node",
    **tor: Any,
) -> Path:
    """``gateway init`` a node in ``tmp_path``, then apply ``tor`` overrides to its YAML."""
    config = tmp_path / f"{name}.yaml"
    subprocess.run(
        [
            sys.executable, "-m", "gateway", "--config", str(config), "init",
            "--level", level, "--testnet", str(testnet.directory),
            "--name", name, "--state-dir", str(tmp_path / ("state" if name == "node" else name)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    data = yaml.safe_load(config.read_text())
    data["tor"].update(tor)
    config.write_text(yaml.safe_dump(data))
    return config


class Node:
    """A ``gateway run`` subprocess with its stdout lines in a queue."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(config), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.address = ""
        self.stderr: list[str] = []
        threading.Thread(
            target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True
        ).start()
        threading.Thread(
            target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True
        ).start()

    @staticmethod
    def _pump(stream: Any, sink: Any) -> None:
        for line in stream:
            sink(line.rstrip("\n"))

    def next_address(self, timeout: float = START_TIMEOUT) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no address within {timeout} s: {self.stderr[-10:]}") from None
        assert line.endswith(".onion") and len(line) == 62, line
        self.address = line
        return line

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("gateway run did not stop on SIGTERM") from None


def tor_pids(marker: Path) -> list[int]:
    """Live tor processes whose command line mentions ``marker`` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        if argv and argv[0].endswith(b"tor") and any(str(marker).encode() in a for a in argv):
            pids.append(int(entry.name))
    return pids


# --- nodes with links ------------------------------------------------------------


def gateway_cli(config: Path, *args: str, timeout: float = 60) -> str:
    """Run ``gateway --config CONFIG ARGS...``; its stdout (AssertionError on failure)."""
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"gateway {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def api(config: Path, method: str, path: str, body: Any = None) -> Any:
    """One request to the local API of the node running with ``config``."""
    from gateway.api.client import call
    from gateway.config.loader import load_config

    return call(load_config(config), method, path, body)


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll ``predicate`` until it returns something truthy; that value."""
    import time

    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = predicate()
        except Exception as exc:  # the node may be restarting
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}: {last!r}")


def node_identity(config: Path) -> str:
    """The identity key (hex) of the node ``config`` sets up; read from its state, offline."""
    from gateway.config.loader import load_config
    from gateway.state.keys import IdentityKeys
    from gateway.state.paths import StatePaths

    state = StatePaths(load_config(config).node.state_dir)
    return IdentityKeys.load(state).signing_public.hex()


def peer(config: Path, nickname_or_id: str) -> dict[str, Any]:
    peers = api(config, "GET", "/api/v1/peers")["peers"]
    found = [p for p in peers if p["nickname"] == nickname_or_id or p["identity"] == nickname_or_id]
    assert found, f"no peer {nickname_or_id} in {peers}"
    return found[0]


def pair(inviter: Path, invitee: Path, nickname: str, timeout: float = 180) -> str:
    """``inviter`` invites, ``invitee`` adds it as ``nickname``; the invite, once paired."""
    invite = json.loads(gateway_cli(inviter, "invite", "--json", "--no-qr"))["invite"]
    gateway_cli(invitee, "contacts", "add", invite, "--nickname", nickname)
    wait_for(
        lambda: peer(invitee, nickname)["state"] == "paired" and peer(invitee, nickname)["online"],
        timeout,
        f"{invitee.stem} paired with {nickname} and online",
    )
    return str(invite)


def inbox_texts(config: Path) -> list[str]:
    return [m["text"] for m in api(config, "GET", "/api/v1/messages")["messages"]]


async def send_raw(
    client: TorClient, onion: str, payload: bytes, circuit: str | None = None
) -> bytes:
    """Send ``payload`` to ``onion`` through ``client`` (over the circuit named by SOCKS
    credentials) and return what comes back (empty when nothing does within 20 s)."""
    proxy = Proxy(
        python_socks.ProxyType.SOCKS5,
        "127.0.0.1",
        client.socks_port,
        username=circuit,
        password="x" if circuit else None,
        rdns=True,
    )
    sock = await proxy.connect(onion, 80, timeout=45)
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(payload)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 20)
    except TimeoutError:
        return b""
    finally:
        writer.close()
