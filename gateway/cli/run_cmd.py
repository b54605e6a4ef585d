"""``gateway run``: start the node and keep it running until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from gateway.config.loader import load_config
from gateway.config.preflight import preflight
from gateway.logs import setup_logging
from gateway.tls import import_aiohttp

log = logging.getLogger("gateway.node")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="start the node: tor, the onion service and the local server",
        description=(
            "Start (or attach to) tor, publish the node's onion service with its "
            "permanent address, print the address, and serve until SIGINT/SIGTERM."
        ),
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    preflight(cfg)
    setup_logging(cfg.logging.level, cfg.security.policy.log_redaction)
    warn_if_root()
    import_aiohttp()  # before the node's modules, which import it: see gateway.tls
    from gateway.node.runner import NodeRunner

    return asyncio.run(NodeRunner(cfg).run())


def warn_if_root() -> bool:
    """Log a warning when the node runs as root (it needs no privilege); whether it did."""
    if os.geteuid() != 0:
        return False
    log.warning(
        "gateway run is running as root: it needs no privilege, and a flaw in it or in tor "
        "would hold the whole machine; run it as an ordinary user, or as a service "
        "(gateway service install: its own user, in systemd's sandbox)"
    )
    return True
