"""Bridges on the private Tor network: a node that reaches Tor only through an obfs4 bridge.

The session's network gains its obfs4 bridge (``TestNetwork.start_bridge``, what
``gateway testnet up --bridge`` runs). A node whose config has only that bridge line
bootstraps through obfs4proxy, publishes its onion and is reached; while it starts,
neither its tor nor tor's obfs4proxy ever holds a connection to a relay's or an
authority's ports, and a capture on ``lo`` sees no TLS on its way to the bridge (obfs4
bytes look random). A bridge that does not answer fails the bootstrap with an error that
names the bridge phase, and ``gateway bridges test`` tells the working line from the dead.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gateway.testnet import TestNetwork, TorClient
from tests.integration.capture import LoopbackCapture
from tests.integration.support import Node, make_node, tor_pids
from tests.integration.test_run_node import reach
from tests.needs import need_program

pytestmark = pytest.mark.integration

TLS_HANDSHAKE = b"\x16\x03"


@pytest.fixture(scope="module")
def bridge_line(testnet: TestNetwork) -> str:
    need_program("obfs4proxy", "the bridge tests need Debian's 'obfs4proxy' package")
    return testnet.start_bridge(timeout=120, owner_pid=os.getpid())


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return out


def remote_ports(pids: list[int]) -> set[int]:
    """The remote ports of the TCP connections these processes hold now (from /proc)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and fields[3] != "0A":  # 0A: listening
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


class ConnectionWatch:
    """Polls, while the node starts, which ports its tor (and tor's children) connect to."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.seen: set[int] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ConnectionWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for tor in tor_pids(self.state_dir):
                self.seen |= remote_ports(descendants(tor))
                self.samples += 1


async def test_a_node_behind_only_the_obfs4_bridge_publishes_and_is_reached(
    tmp_path: Path,
    testnet: TestNetwork,
    tor_client: TorClient,
    nodes: list[Node],
    bridge_line: str,
) -> None:
    relay_ports = {p for n in testnet.nodes for p in (n.orport, n.dirport)}
    bridge = testnet.bridges()[0]
    config = make_node(tmp_path, testnet, bridges=[bridge_line])
    with (
        LoopbackCapture({bridge.ptport, bridge.orport}) as capture,
        ConnectionWatch(tmp_path / "state") as watch,
    ):
        node = Node(config)
        nodes.append(node)
        onion = await asyncio.to_thread(node.next_address)
        body = await reach(tor_client, onion)
    assert body["status"] == "ok"
    torrc = (tmp_path / "state" / "tor" / "torrc").read_text()
    assert "UseBridges 1" in torrc and f"Bridge {bridge_line}" in torrc
    # tor and its obfs4proxy talked to the bridge's obfs4 port, never to a relay's ports
    assert watch.samples > 10
    assert bridge.ptport in watch.seen, watch.seen
    assert not watch.seen & relay_ports, watch.seen & relay_ports
    assert bridge.orport not in watch.seen  # not even to the bridge's own ORPort
    to_bridge = capture.streams_to(bridge.ptport)
    assert to_bridge, "no stream to the bridge's obfs4 port"
    assert all(not s.data().startswith(TLS_HANDSHAKE) for s in to_bridge)
    assert all(TLS_HANDSHAKE + b"\x01" not in s.data()[:64] for s in to_bridge)


def test_a_dead_bridge_fails_the_bootstrap_in_the_bridge_phase(
    tmp_path: Path, testnet: TestNetwork, bridge_line: str
) -> None:
    bridge = testnet.bridges()[0]
    dead = bridge_line.replace(f":{bridge.ptport} ", ":9 ")  # discard: nothing listens
    config = make_node(tmp_path, testnet, bridges=[dead], bootstrap_timeout=15)

    tested = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), "bridges", "test",
         "--timeout", "30", dead, bridge_line],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert tested.returncode == 1, tested.stdout + tested.stderr
    lines = tested.stdout.splitlines()
    assert lines[0].startswith("obfs4 127.0.0.1:9 ") and "FAILED" in lines[0]
    assert "bridge phase" in lines[0]
    assert lines[1].startswith(f"obfs4 127.0.0.1:{bridge.ptport}") and "bootstrapped in" in lines[1]
    assert lines[2] == "1 of 2 bridges work"

    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), "run"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    took = time.monotonic() - started
    assert run.returncode != 0 and run.stdout == ""  # no onion address was printed
    assert "tor reached none of its bridges (obfs4 127.0.0.1:9)" in run.stderr
    assert "bridge phase" in run.stderr and "conn_" in run.stderr
    assert took < 15 + 30, took  # within its bootstrap timeout (plus tor's start and stop)
    assert tor_pids(tmp_path / "state") == []
