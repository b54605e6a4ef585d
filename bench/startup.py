"""Startup benchmark: ``gateway run`` until its onion answers, against bare tor + stem.

On the private Tor network, each run measures

* node: from starting ``python -m gateway --config ... run`` to a separate tor
  client's first successful ``GET /health`` over the onion service;
* baseline: a bare tor with the same testnet lines, launched with stem
  (time to 100% bootstrap) plus ``create_ephemeral_hidden_service(...,
  await_publication=True)`` on it (time to the descriptor upload), summed;
* the node's resident memory (VmRSS of its Python process, tor excluded) once
  published and idle.

Prints JSON with medians and the ratio node/baseline (target <= 1.5) and the
memory (target <= 60 MB). Usage: ``python bench/startup.py [--runs N] [--testnet DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import stem.control
import stem.process
from aiohttp_socks import ProxyConnector

from gateway.testnet import TestNetwork, TorClient, launch_client
from gateway.testnet.ports import free_ports
from gateway.tor.socks import SOCKS_ERRORS

TIMEOUT = 180.0
IDLE_BEFORE_RSS = 3.0


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def get_health(client: TorClient, onion: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        connector = ProxyConnector.from_url(client.socks_url, rdns=True)
        try:
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get(
                    f"http://{onion}/health", timeout=aiohttp.ClientTimeout(total=30)
                ) as resp,
            ):
                if resp.status == 200:
                    return
        except SOCKS_ERRORS:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


def init_node(work: Path, network: TestNetwork) -> Path:
    work.mkdir(parents=True)
    config = work / "node.yaml"
    subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config), "init",
         "--testnet", str(network.directory), "--state-dir", str(work / "state")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return config


def run_node(work: Path, network: TestNetwork, client: TorClient) -> tuple[float, float]:
    """(seconds to a reachable /health, node RSS in MB when published and idle)."""
    config = init_node(work, network)
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        onion = proc.stdout.readline().strip()
        if not onion.endswith(".onion"):
            raise RuntimeError(f"gateway run printed no address (exit {proc.poll()})")
        asyncio.run(get_health(client, onion))
        elapsed = time.monotonic() - start
        time.sleep(IDLE_BEFORE_RSS)
        return elapsed, vm_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def run_baseline(work: Path, network: TestNetwork) -> tuple[float, float]:
    """(bootstrap seconds, publication seconds) of a bare tor driven by stem."""
    data = work / "tor"
    data.mkdir(mode=0o700, parents=True)
    (socks_port,) = free_ports(1)
    torrc = data / "torrc"
    torrc.write_text(
        "\n".join(
            [
                *network.client_torrc_lines(),
                f"DataDirectory {data}",
                f"ControlSocket {data / 'control'}",
                "CookieAuthentication 1",
                f"SocksPort 127.0.0.1:{socks_port}",
            ]
        )
        + "\n"
    )
    start = time.monotonic()
    tor = stem.process.launch_tor(
        network.tor_binary, torrc_path=str(torrc), timeout=TIMEOUT, take_ownership=True
    )
    try:
        bootstrap = time.monotonic() - start
        with stem.control.Controller.from_socket_file(str(data / "control")) as ctl:
            ctl.authenticate()
            start = time.monotonic()
            ctl.create_ephemeral_hidden_service(
                {80: "127.0.0.1:9"},
                key_type="NEW",
                key_content="ED25519-V3",
                await_publication=True,
                timeout=TIMEOUT,
            )
            publish = time.monotonic() - start
        return bootstrap, publish
    finally:
        tor.terminate()
        tor.wait(30)


def summary(values: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(values), 3), "all": [round(v, 3) for v in values]}


def bench(network: TestNetwork, runs: int) -> dict[str, Any]:
    node_s: list[float] = []
    rss: list[float] = []
    base_s: list[float] = []
    boot_s: list[float] = []
    pub_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="gwbench-") as tmp:
        client = launch_client(network, Path(tmp) / "client", owner_pid=os.getpid())
        try:
            for i in range(runs):
                bootstrap, publish = run_baseline(Path(tmp) / f"base{i}", network)
                boot_s.append(bootstrap)
                pub_s.append(publish)
                base_s.append(bootstrap + publish)
                elapsed, mb = run_node(Path(tmp) / f"node{i}", network, client)
                node_s.append(elapsed)
                rss.append(mb)
        finally:
            client.stop()
    ratio = statistics.median(node_s) / statistics.median(base_s)
    return {
        "runs": runs,
        "node_startup_to_reachable_s": summary(node_s),
        "baseline_s": summary(base_s),
        "baseline_bootstrap_s": summary(boot_s),
        "baseline_publish_s": summary(pub_s),
        "ratio": round(ratio, 3),
        "ratio_target": 1.5,
        "ratio_ok": ratio <= 1.5,
        "node_rss_mb": summary(rss),
        "rss_target_mb": 60,
        "rss_ok": statistics.median(rss) <= 60,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--testnet", type=Path, help="reuse a running private network")
    args = parser.parse_args()
    if args.testnet is not None:
        print(json.dumps(bench(TestNetwork.load(args.testnet), args.runs), indent=2))
        return 0
    with tempfile.TemporaryDirectory(prefix="gwbench-net-") as tmp:
        network = TestNetwork.create(Path(tmp) / "net")
        network.start(timeout=TIMEOUT, owner_pid=os.getpid())
        try:
            print(json.dumps(bench(network, args.runs), indent=2))
        finally:
            network.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
