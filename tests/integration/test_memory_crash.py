"""Crash safety: SIGKILL a node 20 times during sync; nothing acknowledged is lost.

Two contacts, A and B. On even rounds A is killed while it writes and syncs to B;
on odd rounds B is killed while it catches up on entries A wrote while it was down.
After each restart every entry the killed node had acknowledged (A: every put that
returned; B: every entry its API showed) is still there, and `gateway memory
verify` passes.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

from gateway.errors import ApiError
from gateway.testnet import TestNetwork
from tests.integration.memory_support import count, ids, memory_node, pair_as, put, start, verify
from tests.integration.support import Node, peer, tor_pids, wait_for

ROUNDS = 20


def stored_ids(config: Path) -> set[str]:
    """Every entry id in the (stopped) node's store file."""
    db = sqlite3.connect(config.parent / config.stem / "memory.db")
    try:
        return {row[0].hex() for row in db.execute("SELECT id FROM entries")}
    finally:
        db.close()


def kill(node: Node, config: Path) -> None:
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(timeout=30)
    wait_for(lambda: not tor_pids(config.parent / config.stem), 30, "the killed node's tor")


class Writer(threading.Thread):
    """Puts entries on ``config`` until stopped; the ids of the puts that returned."""

    def __init__(self, config: Path, label: str) -> None:
        super().__init__(daemon=True)
        self.config, self.label = config, label
        self.acked: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            try:
                self.acked.append(put(self.config, f"{self.label} #{i}")["id"])
            except ApiError:
                return  # the node was killed under us: that put was not acknowledged
            i += 1


def test_sigkill_during_sync_twenty_times(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node]
) -> None:
    rng = random.Random(20)
    a, b = memory_node(tmp_path, testnet, "a"), memory_node(tmp_path, testnet, "b")
    running = {"a": start(a, nodes), "b": start(b, nodes)}
    pair_as(a, b, "bob", "alice")
    acked_a: set[str] = set()
    for round_ in range(ROUNDS):
        if round_ % 2 == 0:  # kill A while it writes and syncs
            writer = Writer(a, f"round {round_}")
            writer.start()
            time.sleep(rng.uniform(0.5, 2.5))
            kill(running["a"], a)
            writer.join(30)
            acked_a |= set(writer.acked)
            assert acked_a <= stored_ids(a), f"round {round_}: A lost acknowledged entries"
            running["a"] = start(a, nodes)
        else:  # kill B while it catches up
            seen_b = ids(b, limit=1000)  # the newest 1000 it shows
            shown = count(b)
            kill(running["b"], b)
            for i in range(30):
                acked_a.add(put(a, f"while b is down, round {round_} #{i}")["id"])
            running["b"] = start(b, nodes)
            wait_for(lambda: peer(a, "bob")["online"], 180, "b back online")
            time.sleep(rng.uniform(0.0, 1.0))
            kill(running["b"], b)
            kept = stored_ids(b)
            assert seen_b <= kept and len(kept) >= shown, f"round {round_}: B lost entries"
            running["b"] = start(b, nodes)
        wait_for(lambda: peer(a, "bob")["online"], 180, f"round {round_}: link back")
        for config in (a, b):
            report = verify(config)
            assert report["ok"], f"round {round_}: {config.stem}: {report}"
    wait_for(lambda: count(a) == count(b), 240, "b to catch up with a")
    for config in (a, b):
        assert running[config.stem].stop() == 0
    assert acked_a <= stored_ids(a) == stored_ids(b)
