"""``gateway peers``: each contact's link as the running node sees it."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from gateway.api.client import call
from gateway.config.loader import load_config


def register(sub: Any) -> None:
    parser = sub.add_parser("peers", help="contacts: online, last seen, RTT, padding")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    seconds = max(0, int(time.time() - ts))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def run(args: argparse.Namespace) -> int:
    peers = call(load_config(args.config), "GET", "/api/v1/peers")["peers"]
    if args.json:
        print(json.dumps(peers, indent=2))
        return 0
    if not peers:
        print("no contacts yet (gateway invite / gateway contacts add)")
        return 0
    print(f"{'contact':18} {'state':8} {'link':8} {'last seen':12} {'rtt':>9}  padding/cover")
    for p in peers:
        name = p["nickname"] or p["identity"][:16]
        link = f"on ({p['direction']})" if p["online"] else "offline"
        rtt = f"{p['rtt_ms']:.0f} ms" if p["rtt_ms"] is not None else "-"
        print(
            f"{name[:18]:18} {p['state']:8} {link:8} {_ago(p['last_seen']):12} {rtt:>9}"
            f"  {p['padding']}/{p['cover']}" + (f"  ({p['queued']} queued)" if p["queued"] else "")
        )
    return 0
