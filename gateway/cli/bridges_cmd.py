"""``gateway bridges test``: which bridges (the config's, or lines given) tor bootstraps through."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import replace
from typing import Any

from gateway.config.bridges import DEFAULT_TRANSPORTS, parse_bridge, transports_used
from gateway.config.loader import load_config
from gateway.config.preflight import preflight_transports
from gateway.config.schema import GatewayConfig
from gateway.errors import ConfigError
from gateway.tor.bridgetest import probe_bridges


def register(sub: Any) -> None:
    parser = sub.add_parser("bridges", help="bridges and pluggable transports")
    actions = parser.add_subparsers(dest="bridges_action", metavar="ACTION", required=True)
    test = actions.add_parser(
        "test", help="bootstrap a throwaway tor through each bridge; report which work"
    )
    test.add_argument(
        "lines", nargs="*", metavar="LINE",
        help="bridge lines to test (default: the config's tor.bridges)",
    )  # fmt: skip
    test.add_argument("--timeout", type=float, default=60.0, help="seconds per bridge")
    test.add_argument("--json", action="store_true", help="print JSON")
    test.set_defaults(func=run_test)


def _bridges(cfg: GatewayConfig, lines: list[str]) -> GatewayConfig:
    """``cfg`` with ``lines`` (each checked) as its bridges, or as it is."""
    if not lines:
        return cfg
    known = {**DEFAULT_TRANSPORTS, **dict(cfg.tor.transports)}
    parsed = []
    for i, line in enumerate(lines):
        try:
            parsed.append(parse_bridge(line, known))
        except ValueError as exc:
            raise ConfigError(
                None, f"LINE[{i}]", "a bridge line: [transport] IP:PORT [fingerprint] [k=v ...]",
                line[:80], detail=str(exc),
            ) from None  # fmt: skip
    bridges = tuple(parsed)
    tor = replace(cfg.tor, bridges=bridges,
                  transports=tuple(transports_used(bridges, known).items()))  # fmt: skip
    return replace(cfg, tor=tor)


def run_test(args: argparse.Namespace) -> int:
    cfg = _bridges(load_config(args.config), args.lines)
    if not cfg.tor.bridges:
        print("no bridges to test: set tor.bridges in the config, or give bridge lines")
        return 2
    preflight_transports(cfg)
    results = asyncio.run(probe_bridges(cfg, cfg.tor.bridges, args.timeout))
    if args.json:
        print(json.dumps([
            {"bridge": r.bridge.torrc().removeprefix("Bridge "), "ok": r.ok,
             "seconds": round(r.seconds, 1), "error": r.error}
            for r in results
        ], indent=2))  # fmt: skip
    else:
        for r in results:
            what = f"{r.bridge.transport or 'plain'} {r.bridge.address}"
            verdict = f"bootstrapped in {r.seconds:.1f} s" if r.ok else f"FAILED: {r.error}"
            print(f"{what:32} {verdict}")
        working = sum(r.ok for r in results)
        print(f"{working} of {len(results)} bridges work")
    return 0 if all(r.ok for r in results) else 1
