"""``gateway testnet up|status|down``: the private Tor network on loopback."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from gateway.testnet import TestNetwork
from gateway.testnet.bridge import bridge_line


def register(sub: Any) -> None:
    parser = sub.add_parser("testnet", help="run a private Tor network on 127.0.0.1")
    actions = parser.add_subparsers(dest="testnet_action", metavar="ACTION", required=True)

    up = actions.add_parser("up", help="create (if needed) and start the network")
    up.add_argument("--dir", type=Path, required=True, help="the network's directory")
    up.add_argument("--relays", type=int, default=4, help="relays besides the 3 authorities")
    up.add_argument("--tor", default="tor", help="tor binary (default: tor on PATH)")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for readiness")
    up.add_argument(
        "--bridge", action="store_true",
        help="also run an obfs4 bridge (needs obfs4proxy) and print its bridge line",
    )  # fmt: skip
    up.set_defaults(func=_up)

    status = actions.add_parser("status", help="show the nodes and the consensus")
    status.add_argument("--dir", type=Path, required=True)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_status)

    down = actions.add_parser("down", help="stop every tor of the network")
    down.add_argument("--dir", type=Path, required=True)
    down.set_defaults(func=_down)


def _up(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    if (directory / "network.json").exists():
        network = TestNetwork.load(directory)
    else:
        network = TestNetwork.create(directory, relays=args.relays, tor_binary=args.tor)
    started = time.monotonic()
    network.start(timeout=args.timeout)
    took = time.monotonic() - started
    print(f"private Tor network up in {took:.1f} s: {len(network.nodes)} tor processes")
    print(f"nodes join it with:  tor.testnet: {network.directory}")
    if args.bridge:
        line = network.start_bridge()
        print("obfs4 bridge up; nodes reach the network only through it with:")
        print(f"  tor.bridges: ['{line}']")
    return 0


def _status(args: argparse.Namespace) -> int:
    status = TestNetwork.load(args.dir).status()
    if args.json:
        c = status.consensus
        print(
            json.dumps(
                {
                    "directory": str(status.directory),
                    "ready": status.ready,
                    "nodes": [
                        {"nickname": n.nickname, "authority": n.authority, "pid": n.pid}
                        for n in status.nodes
                    ],
                    "consensus": None if c is None else c.__dict__,
                },
                indent=2,
            )
        )
    else:
        for n in status.nodes:
            role = "authority" if n.authority else "relay"
            state = f"running (pid {n.pid})" if n.pid else "stopped"
            print(f"{n.nickname:10} {role:9} {state}")
        c = status.consensus
        if c is None:
            print("consensus: none yet")
        else:
            print(
                f"consensus: valid-after {c.valid_after}, {c.relays} relays, "
                f"{c.running} running, {c.hsdirs} HSDirs"
            )
        for bridge in TestNetwork.load(args.dir).bridges():
            line = bridge_line(bridge)
            print(f"{bridge.nickname:10} bridge    {line or '(no bridge line yet)'}")
        print("ready" if status.ready else "not ready")
    return 0 if status.ready else 1


def _down(args: argparse.Namespace) -> int:
    network = TestNetwork.load(args.dir)
    network.stop()
    print(f"private Tor network at {network.directory} stopped")
    return 0
