"""``gateway peers``: each contact's link as the running node sees it."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from gateway.api.client import call
from gateway.config.loader import load_config


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "peers", help="contacts: online, last seen, RTT, uptime, reputation score, padding"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    seconds = max(0, int(time.time() - ts))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def _reputation(p: dict[str, Any]) -> tuple[str, str, str]:
    """(uptime, score, faults) columns of a peer (docs/REPUTATION.md)."""
    rep = p.get("reputation")
    if not rep:
        return "-", "-", ""
    uptime = "-" if rep["uptime"] is None else f"{rep['uptime'] * 100:.0f}%"
    counts: dict[str, int] = {}
    for group in ("sync_refusals", "round_faults", "pbft_faults"):
        for kind, n in rep[group].items():
            counts[kind] = counts.get(kind, 0) + n
    faults = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    return uptime, f"{rep['score']:.2f}", f"  [{faults}]" if faults else ""


def run(args: argparse.Namespace) -> int:
    peers = call(load_config(args.config), "GET", "/api/v1/peers")["peers"]
    if args.json:
        print(json.dumps(peers, indent=2))
        return 0
    if not peers:
        print("no contacts yet (gateway invite / gateway contacts add)")
        return 0
    print(
        f"{'contact':18} {'state':8} {'link':8} {'last seen':12} {'rtt':>9} {'uptime':>6}"
        f" {'score':>5}  padding/cover"
    )
    for p in peers:
        name = p["nickname"] or p["identity"][:16]
        link = f"on ({p['direction']})" if p["online"] else "offline"
        rtt = f"{p['rtt_ms']:.0f} ms" if p["rtt_ms"] is not None else "-"
        uptime, score, faults = _reputation(p)
        print(
            f"{name[:18]:18} {p['state']:8} {link:8} {_ago(p['last_seen']):12} {rtt:>9}"
            f" {uptime:>6} {score:>5}  {p['padding']}/{p['cover']}"
            + (f"  ({p['queued']} queued)" if p["queued"] else "")
            + faults
        )
    return 0
