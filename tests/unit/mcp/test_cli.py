"""``gateway mcp``'s arguments: ``--config`` before or after the command (MCP clients'
configs usually write ``gateway mcp --config PATH``)."""

from __future__ import annotations

from pathlib import Path

from gateway.cli import DEFAULT_CONFIG, build_parser


def test_config_after_the_command() -> None:
    args = build_parser().parse_args(["mcp", "--config", "/etc/gw/alice.yaml"])
    assert args.config == Path("/etc/gw/alice.yaml") and args.http is False


def test_config_before_the_command_and_the_default() -> None:
    assert build_parser().parse_args(["--config", "a.yaml", "mcp"]).config == Path("a.yaml")
    assert build_parser().parse_args(["mcp", "--http"]).config == DEFAULT_CONFIG


def test_the_one_after_the_command_wins() -> None:
    args = build_parser().parse_args(["--config", "a.yaml", "mcp", "--config", "b.yaml"])
    assert args.config == Path("b.yaml")
