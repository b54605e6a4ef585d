"""The ``gateway`` command line.

Each subcommand lives in its own module under :mod:`gateway.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a handler
``(args: argparse.Namespace) -> int``. :func:`main` maps every
:class:`~gateway.errors.GatewayError` to one message on stderr and its exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway import __version__
from gateway.errors import GatewayError

DEFAULT_CONFIG = Path("config/node.yaml")

#: command modules, in the order their commands appear in ``gateway --help``
COMMAND_MODULES: tuple[str, ...] = (
    "gateway.cli.init_cmd",
    "gateway.cli.invite_cmd",
    "gateway.cli.contacts_cmd",
    "gateway.cli.run_cmd",
    "gateway.cli.status_cmd",
    "gateway.cli.ping_cmd",
    "gateway.cli.peers_cmd",
    "gateway.cli.dashboard_cmd",
    "gateway.cli.mcp_cmd",
    "gateway.cli.messages_cmd",
    "gateway.cli.memory_cmd",
    "gateway.cli.circle_cmd",
    "gateway.cli.converge_cmd",
    "gateway.cli.levels_cmd",
    "gateway.cli.config_cmd",
    "gateway.cli.backup_cmd",
    "gateway.cli.testnet_cmd",
    "gateway.cli.bridges_cmd",
    "gateway.cli.service_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="A node that lives behind Tor.",
    )
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help=f"the node's YAML config (default: {DEFAULT_CONFIG})",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = func(args)
    except GatewayError as exc:
        print(f"gateway: error: {exc.code}: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    return status
