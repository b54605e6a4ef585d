"""``gateway config show [--json]``: the effective settings, overrides marked."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gateway.config.effective import flatten
from gateway.config.loader import dump_effective, load_config, overridden_keys

OVERRIDE_MARK = "*"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="inspect the node's configuration")
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the effective settings")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def format_effective(data: dict[str, Any], overridden: frozenset[str]) -> str:
    """``key = value`` lines; overridden keys end with ``*``; a legend at the end."""
    pairs = flatten(data)
    width = max(len(key) for key, _ in pairs)
    lines = []
    for key, value in pairs:
        mark = f"  {OVERRIDE_MARK}" if key in overridden else ""
        lines.append(f"{key.ljust(width)} = {_scalar(value)}{mark}")
    lines.append("")
    lines.append(f"{OVERRIDE_MARK} = set by security.overrides (not the level's value)")
    return "\n".join(lines) + "\n"


def run_show(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    data = dump_effective(cfg)
    overridden = overridden_keys(cfg)
    if args.json:
        print(json.dumps({"effective": data, "overridden": sorted(overridden)}, indent=2))
    else:
        print(format_effective(data, overridden), end="")
    return 0
