"""``gateway run``: start the node and keep it running until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from gateway.config.loader import load_config
from gateway.config.preflight import preflight
from gateway.config.schema import GatewayConfig
from gateway.node.runner import NodeRunner

LOG_FORMAT = "gateway: %(levelname)s %(name)s: %(message)s"


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


def configure_logging(cfg: GatewayConfig) -> None:
    """Send gateway's own log records to stderr at the configured level."""
    logger = logging.getLogger("gateway")
    logger.setLevel(cfg.logging.level.upper())
    if not any(getattr(h, "_gateway_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._gateway_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    preflight(cfg)
    configure_logging(cfg)
    return asyncio.run(NodeRunner(cfg).run())
