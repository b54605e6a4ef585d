"""``gateway ping ONION``: reach another node's onion through this node's tor."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from gateway.config.loader import load_config
from gateway.errors import PingError
from gateway.node.runtime_file import read_runtime
from gateway.session.handshake import normalize_onion
from gateway.state.paths import StatePaths
from gateway.tor.socks import SOCKS_ERRORS, explain, http_session

#: an unreachable onion, or a reply that is not JSON
PING_ERRORS: tuple[type[Exception], ...] = (*SOCKS_ERRORS, ValueError)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "ping",
        help="reach a node's onion service through this node's tor and time it",
        description="GET /health on ONION through the running node's tor and print round trips.",
    )
    parser.add_argument("onion", help="the node's onion address (with or without .onion)")
    parser.add_argument("--count", type=int, default=3, help="round trips to time (default 3)")
    parser.add_argument("--port", type=int, default=80, help="the onion's virtual port")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per attempt")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise PingError(f"--count must be at least 1, got {args.count}")
    cfg = load_config(args.config)
    info = read_runtime(StatePaths(cfg.node.state_dir))
    if info.socks_port is None:
        raise PingError("the running node has no SOCKS port")
    onion = normalize_onion(args.onion)
    url = f"http://{onion}.onion:{args.port}/health"
    rtts, reply = asyncio.run(_ping(info.socks_port, url, args.count, args.timeout))
    result = {
        "onion": f"{onion}.onion",
        "reply": reply,
        "rtt_ms": [round(r * 1000, 1) for r in rtts],
        "first_ms": round(rtts[0] * 1000, 1),
        "median_ms": round(statistics.median(rtts) * 1000, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['onion']}: {reply.get('status')} (gateway {reply.get('version')}), "
            f"round trip {result['median_ms']} ms median of {len(rtts)} "
            f"(first, with circuit setup: {result['first_ms']} ms)"
        )
    return 0


async def _ping(socks_port: int, url: str, count: int, timeout: float) -> tuple[list[float], Any]:
    rtts: list[float] = []
    reply: Any = None
    try:
        async with http_session(socks_port, timeout=timeout) as http:
            for _ in range(count):
                started = time.perf_counter()
                async with http.get(url) as resp:
                    reply = await resp.json()
                rtts.append(time.perf_counter() - started)
    except PING_ERRORS as exc:
        raise PingError(f"{url} not reachable through tor: {explain(exc)}") from exc
    return rtts, reply
