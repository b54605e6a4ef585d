"""The ``gateway`` command line.

Each subcommand lives in its own module under :mod:`gateway.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a handler
``(args: argparse.Namespace) -> int``. :func:`main` maps every
:class:`~gateway.errors.GatewayError` to one message on stderr and its exit status.

:func:`main` imports only the module of the command it runs (``gateway run`` keeps the
code of the other eighteen out of the node's memory); help and an unknown command
import them all.
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

#: the commands of the modules that register more than the one named after them
EXTRA_COMMANDS: dict[str, str] = {
    "restore": "gateway.cli.backup_cmd",
    "rounds": "gateway.cli.converge_cmd",
    "send": "gateway.cli.messages_cmd",
    "inbox": "gateway.cli.messages_cmd",
}


def command_module(argv: Sequence[str]) -> str | None:
    """The module of the command ``argv`` runs, if it names one (else None: all of them)."""
    args = iter(argv)
    for arg in args:
        if arg == "--config":
            next(args, None)
        elif not arg.startswith("-"):
            module = EXTRA_COMMANDS.get(arg, f"gateway.cli.{arg.replace('-', '_')}_cmd")
            return module if module in COMMAND_MODULES else None
        elif arg in ("-h", "--help", "--version"):
            return None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; or, given the ``argv`` to parse, of the one it names."""
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
    only = None if argv is None else command_module(argv)
    for name in COMMAND_MODULES if only is None else (only,):
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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
