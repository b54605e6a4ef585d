"""``gateway levels``: print the built-in security levels side by side."""

from __future__ import annotations

import argparse

from gateway.config.levels import POLICY_FIELDS, level_spec, policy_value_name
from gateway.config.schema import Level


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("levels", help="show the security levels and what each sets")
    parser.set_defaults(func=run)


def levels_table() -> list[list[str]]:
    """Rows of the table: a header, then one row per policy field and tor option."""
    specs = [level_spec(level) for level in Level]
    rows = [["setting", *(spec.level.value for spec in specs)]]
    for name in POLICY_FIELDS:
        rows.append([name, *(policy_value_name(getattr(s.policy, name)) for s in specs)])
    options: list[str] = []
    for spec in specs:
        options += [name for name, _ in spec.tor_options if name not in options]
    for option in options:
        rows.append([f"tor {option}", *(dict(s.tor_options).get(option, "-") for s in specs)])
    return rows


def format_table(rows: list[list[str]]) -> str:
    """Rows as plain text, columns aligned, a rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    print(format_table(levels_table()), end="")
    print("\n'-' = tor's default. Reasons and costs: docs/SECURITY-LEVELS.md")
    return 0
