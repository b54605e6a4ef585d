"""``gateway status``: the running node's level, tor and onion; ``--check`` for health checks."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gateway.api.client import call
from gateway.config.loader import load_config
from gateway.errors import GatewayError

#: the tor state in which the node is reachable (``GET /api/v1/status``'s ``tor``)
HEALTHY = "published"


def register(sub: Any) -> None:
    parser = sub.add_parser("status", help="the running node: level, tor, onion, contacts online")
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.add_argument(
        "--check", action="store_true",
        help="print one line; exit 0 only if the node runs and its onion is published "
             "(for container and service health checks)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.check:
        try:
            status = call(cfg, "GET", "/api/v1/status", timeout=10.0)
        except GatewayError as exc:
            print(f"unhealthy: {exc}")
            return 1
        healthy = status.get("tor") == HEALTHY
        print(f"{'healthy' if healthy else 'unhealthy'}: tor {status.get('tor')}")
        return 0 if healthy else 1
    status = call(cfg, "GET", "/api/v1/status")
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    boot = status.get("bootstrap") or {}
    print(f"level:     {status.get('level')}")
    print(f"tor:       {status.get('tor')} (bootstrap {boot.get('progress', 0)}%, "
          f"{status.get('tor_restarts', 0)} restarts)")  # fmt: skip
    print(f"onion:     {status.get('onion') or '(not published yet)'}")
    return 0
