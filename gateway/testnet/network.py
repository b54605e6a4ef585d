"""A private Tor network on loopback: three directory authorities plus relays.

Layout of the network's directory::

    DIR/network.json        what was made: nodes, ports, fingerprints
    DIR/client.conf         torrc lines a client adds to join (TestingTorNetwork, DirAuthority)
    DIR/torrc.defaults      an empty defaults file, so no system torrc leaks in
    DIR/nodes/<nick>/       each node's DataDirectory, torrc, keys, pid and notice.log
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from gateway.errors import TestnetError
from gateway.testnet import consensus, keys, process
from gateway.testnet.bridge import BridgeSpec, bridges_of, make_bridge, start_bridge
from gateway.testnet.ports import free_ports
from gateway.testnet.torrc import LOOPBACK, NodeSpec, client_lines, node_torrc

AUTHORITIES = 3
FORMAT_VERSION = 1


@dataclass(frozen=True)
class NodeStatus:
    nickname: str
    authority: bool
    pid: int | None


@dataclass(frozen=True)
class NetworkStatus:
    directory: Path
    nodes: tuple[NodeStatus, ...]
    consensus: consensus.ConsensusSummary | None
    #: every authority serves a client the full microdesc consensus and its microdescriptors
    clients_served: bool = False

    @property
    def running(self) -> int:
        return sum(n.pid is not None for n in self.nodes)

    @property
    def ready(self) -> bool:
        """Every node runs, the consensus lists each of them as Running, and every authority
        can hand a new client all it needs (so clients bootstrap in seconds, not after a
        backoff)."""
        total = len(self.nodes)
        c = self.consensus
        return (
            self.running == total
            and c is not None
            and c.running >= total
            and c.hsdirs >= min(total, AUTHORITIES)
            and self.clients_served
        )


class TestNetwork:
    """A private Tor network whose state lives in one directory."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, tor_binary: str, nodes: tuple[NodeSpec, ...]) -> None:
        self.directory = directory
        self.tor_binary = tor_binary
        self.nodes = nodes

    # -- paths -------------------------------------------------------------------

    @property
    def client_conf(self) -> Path:
        return self.directory / "client.conf"

    @property
    def defaults_torrc(self) -> Path:
        return self.directory / "torrc.defaults"

    @property
    def authorities(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.authority)

    # -- making and loading ------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, *, relays: int = 4, tor_binary: str = "tor") -> TestNetwork:
        """Make keys and torrc files for 3 authorities plus ``relays`` relays."""
        if relays < 1:
            raise TestnetError(f"--relays must be at least 1, got {relays}")
        directory = directory.resolve()
        if (directory / "network.json").exists():
            raise TestnetError(f"{directory} already holds a network (use it, or remove it)")
        tor = shutil.which(tor_binary)
        if tor is None:
            raise TestnetError(f"tor binary {tor_binary!r} not found; install Debian's 'tor'")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        (directory / "torrc.defaults").write_text("")
        count = AUTHORITIES + relays
        ports = free_ports(2 * count)
        nodes = []
        for i in range(count):
            authority = i < AUTHORITIES
            nick = f"test{i:03d}{'a' if authority else 'r'}"
            node_dir = directory / "nodes" / nick
            node_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            node = NodeSpec(nick, authority, ports[2 * i], ports[2 * i + 1], node_dir)
            nodes.append(cls._make_keys(node, tor, directory / "torrc.defaults"))
        network = cls(directory, tor, tuple(nodes))
        network._write_files()
        return network

    @staticmethod
    def _make_keys(node: NodeSpec, tor: str, defaults: Path) -> NodeSpec:
        v3ident = ""
        if node.authority:
            gencert = keys.gencert_binary(tor)
            v3ident = keys.make_authority_keys(
                gencert, node.directory / "keys", f"{LOOPBACK}:{node.dirport}"
            )
        fingerprint = keys.make_relay_fingerprint(tor, node.directory, node.nickname, defaults)
        return replace(node, fingerprint=fingerprint, v3ident=v3ident)

    def _write_files(self) -> None:
        for node in self.nodes:
            node.torrc_path.write_text(node_torrc(node, self.authorities))
        self.client_conf.write_text("\n".join(self.client_torrc_lines()) + "\n")
        record = {
            "format": FORMAT_VERSION,
            "tor_binary": self.tor_binary,
            "nodes": [{**asdict(n), "directory": str(n.directory)} for n in self.nodes],
        }
        (self.directory / "network.json").write_text(json.dumps(record, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> TestNetwork:
        """Open a network made earlier by :meth:`create`."""
        directory = directory.resolve()
        path = directory / "network.json"
        try:
            record = json.loads(path.read_text())
            if record.get("format") != FORMAT_VERSION:
                raise TestnetError(f"{path}: unsupported format {record.get('format')!r}")
            nodes = tuple(
                NodeSpec(**{**n, "directory": Path(n["directory"])}) for n in record["nodes"]
            )
            return cls(directory, str(record["tor_binary"]), nodes)
        except FileNotFoundError as exc:
            raise TestnetError(f"{directory}: no private network here (no network.json)") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TestnetError(f"{path}: unreadable network record: {exc}") from exc

    def client_torrc_lines(self) -> list[str]:
        """torrc lines that make a tor a client of this network."""
        return client_lines(self.authorities)

    def bridges(self) -> list[BridgeSpec]:
        """The network's bridges (``gateway testnet up --bridge``), not in its consensus."""
        return bridges_of(self.directory)

    def start_bridge(self, *, timeout: float = 90.0, owner_pid: int | None = None) -> str:
        """Make (once) and start the network's obfs4 bridge; its bridge line."""
        bridge = make_bridge(self.directory, self.authorities)
        return start_bridge(
            bridge, self.tor_binary, self.defaults_torrc, timeout=timeout, owner_pid=owner_pid
        )

    # -- running -----------------------------------------------------------------

    def start(self, *, timeout: float = 120.0, owner_pid: int | None = None) -> None:
        """Start every node that is not running and wait until the network is usable.

        With ``owner_pid`` every tor exits by itself when that process exits.
        On failure, the nodes are stopped again and the error names what was missing.
        """
        for node in self.nodes:
            if process.pid_of(node.torrc_path, node.pid_file) is None:
                node.pid_file.unlink(missing_ok=True)
                process.spawn(self.tor_binary, node.torrc_path, self.defaults_torrc, owner_pid)
        try:
            self._wait_ready(timeout)
        except TestnetError:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        started = time.monotonic()
        while not (status := self.status()).ready:
            elapsed = time.monotonic() - started
            dead = [n for n, s in zip(self.nodes, status.nodes, strict=True) if s.pid is None]
            if dead and elapsed > process.STARTUP_GRACE:
                raise TestnetError(
                    f"tor node {dead[0].nickname} is not running: "
                    f"{process.log_tail(dead[0].directory / 'notice.log')}"
                )
            if elapsed > timeout:
                raise TestnetError(
                    f"network not ready after {timeout:.0f} s: {status.running}/"
                    f"{len(self.nodes)} nodes up, consensus {status.consensus}"
                )
            time.sleep(1.0)

    def status(self) -> NetworkStatus:
        nodes = tuple(
            NodeStatus(n.nickname, n.authority, process.pid_of(n.torrc_path, n.pid_file))
            for n in self.nodes
        )
        summary = None
        for auth, st in zip(self.authorities, nodes, strict=False):
            if st.pid is not None:
                summary = consensus.fetch_consensus(auth.dirport)
                if summary is not None:
                    break
        served = summary is not None and all(
            st.pid is not None and consensus.serves_client_view(auth.dirport, len(nodes))
            for auth, st in zip(self.authorities, nodes, strict=False)
        )
        return NetworkStatus(self.directory, nodes, summary, served)

    def stop(self) -> None:
        """Stop every tor of the network; none is left running afterwards."""
        runs = [(n.torrc_path, n.pid_file) for n in self.nodes]
        runs += [(b.torrc_path, b.pid_file) for b in self.bridges()]
        pids = [pid for torrc, pid_file in runs if (pid := process.pid_of(torrc, pid_file))]
        pids += self._unlisted_pids()
        process.stop_pids(sorted(set(pids)))
        for _, pid_file in runs:
            pid_file.unlink(missing_ok=True)

    def _unlisted_pids(self) -> list[int]:
        """tors of this network that have not written their PidFile yet."""
        torrcs = [n.torrc_path for n in self.nodes] + [b.torrc_path for b in self.bridges()]
        found = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                pid = int(proc.name)
                if any(process.runs_torrc(pid, torrc) for torrc in torrcs):
                    found.append(pid)
        return found
