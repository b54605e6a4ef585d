"""Real ``gateway run`` nodes on a private testnet, for the benchmarks that need them."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gateway.api.client import call
from gateway.config.loader import load_config
from gateway.node.runtime_file import RuntimeInfo, read_runtime
from gateway.state.keys import IdentityKeys
from gateway.state.paths import StatePaths
from gateway.testnet import TestNetwork

START_TIMEOUT = 240.0


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, poll: float = 0.05
) -> float:
    """Poll ``predicate`` (errors count as not yet) until true; the monotonic time it was."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(Exception):
            if predicate():
                return time.monotonic()
        time.sleep(poll)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


class BenchNode:
    """One ``gateway run`` subprocess (STANDARD unless ``level``), its config and state."""

    def __init__(
        self,
        folder: Path,
        network: TestNetwork,
        name: str,
        yaml_extra: dict[str, Any] | None = None,
        *,
        level: str = "standard",
    ) -> None:
        self.name, self.state = name, folder / name
        self.config = folder / f"{name}.yaml"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.cli("init", "--level", level, "--testnet", str(network.directory),
                 "--name", name, "--state-dir", str(self.state))  # fmt: skip
        if yaml_extra:
            data = yaml.safe_load(self.config.read_text())
            data.update(yaml_extra)
            self.config.write_text(yaml.safe_dump(data))
        self.cfg = load_config(self.config)
        self.identity = IdentityKeys.load(StatePaths(self.state)).signing_public

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "--config", str(self.config), *args],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"gateway {' '.join(args)} ({self.name}): {done.stderr[-2000:]}")
        return done.stdout

    def start(self, wait: bool = True) -> None:
        """Start ``gateway run``; with ``wait``, return once its onion is published."""
        out = self.state.parent / f"{self.name}.out"
        with out.open("wb") as stdout, (self.state.parent / f"{self.name}.err").open("ab") as err:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--config", str(self.config), "run"],
                stdout=stdout, stderr=err,
            )  # fmt: skip
        if wait:
            wait_until(lambda: out.read_text().strip().endswith(".onion"), START_TIMEOUT,
                       f"{self.name} published")  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return call(self.cfg, method, path, body)

    def peers(self) -> dict[str, dict[str, Any]]:
        """This node's links by the contact's nickname."""
        return {p["nickname"]: p for p in self.api("GET", "/api/v1/peers")["peers"]}

    def runtime(self) -> RuntimeInfo:
        return read_runtime(StatePaths(self.state))


def pair(inviter: BenchNode, invitee: BenchNode) -> None:
    """Pair two running nodes, each naming the other by its node name; returns once both see
    the other paired and online."""
    invite = json.loads(inviter.cli("invite", "--json", "--no-qr", "--label", invitee.name))[
        "invite"
    ]
    invitee.cli("contacts", "add", invite, "--nickname", inviter.name)
    for node, other in ((invitee, inviter.name), (inviter, invitee.name)):
        wait_until(_linked(node, other), START_TIMEOUT, f"{node.name} paired with {other}")


def _linked(node: BenchNode, nickname: str) -> Callable[[], bool]:
    def check() -> bool:
        status = node.peers()[nickname]
        return bool(status["state"] == "paired" and status["online"])

    return check
