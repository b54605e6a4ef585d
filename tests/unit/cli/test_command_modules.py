"""``gateway CMD`` imports only CMD's module: every command must be found from its name."""

from __future__ import annotations

import argparse

import pytest

from gateway.cli import COMMAND_MODULES, build_parser, command_module


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_every_command_is_found_by_its_name_and_parses_alone() -> None:
    names = _commands(build_parser())
    assert len(names) >= len(COMMAND_MODULES)
    for name in names:
        module = command_module([name])
        assert module is not None, name
        assert name in _commands(build_parser([name])), (name, module)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--config", "a.yaml", "run"], "gateway.cli.run_cmd"),
        (["--config=a.yaml", "inbox"], "gateway.cli.messages_cmd"),
        (["restore", "backup.gwb"], "gateway.cli.backup_cmd"),
        (["--help"], None),
        (["--version"], None),
        ([], None),
        (["no-such-command"], None),
        (["--config"], None),
    ],
)
def test_the_command_of_an_argv(argv: list[str], expected: str | None) -> None:
    assert command_module(argv) == expected


def test_an_unknown_command_still_lists_every_choice(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser(["no-such-command"]).parse_args(["no-such-command"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'no-such-command'" in err
    assert "'service'" in err and "'restore'" in err
