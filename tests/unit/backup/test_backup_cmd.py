"""``gateway backup`` and ``gateway restore`` on the command line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.backup.restore import read_archive
from gateway.cli import main
from gateway.cli.backup_cmd import read_passphrase
from gateway.config.loader import load_config
from gateway.errors import BackupError
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths
from tests.unit.backup.conftest import PASSPHRASE, SourceNode


def test_backup_then_restore(
    source: SourceNode,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GW_PASS", PASSPHRASE.decode())
    out = tmp_path / "node.gwb"
    argv = ["--config", str(source.config), "backup", str(out), "--passphrase-env", "GW_PASS"]
    assert main([*argv, "--kdf", "interactive"]) == 0
    assert source.onion in capsys.readouterr().out
    assert read_archive(out, PASSPHRASE).manifest.onion_address == source.onion
    assert main([*argv, "--kdf", "interactive"]) == 1  # exists, no --force
    assert "already exists" in capsys.readouterr().err
    config, state = tmp_path / "r" / "node.yaml", tmp_path / "r" / "st"
    restore = ["--config", str(config), "restore", str(out), "--passphrase-env", "GW_PASS"]
    assert main([*restore, "--state-dir", str(state)]) == 0
    assert "re-handshake" in capsys.readouterr().out
    assert load_config(config).node.state_dir == state
    assert OnionKey.load(StatePaths(state).onion_key).address == source.onion
    assert main([*restore, "--state-dir", str(state)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_wrong_passphrase_on_the_command_line(
    source: SourceNode,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GW_PASS", "right")
    out = tmp_path / "node.gwb"
    cmd = ["--config", str(source.config), "backup", str(out), "--passphrase-env", "GW_PASS"]
    assert main([*cmd, "--kdf", "interactive"]) == 0
    monkeypatch.setenv("GW_PASS", "wrong")
    config = tmp_path / "r" / "node.yaml"
    assert main(["--config", str(config), "restore", str(out), "--passphrase-env", "GW_PASS"]) == 1
    assert "wrong passphrase" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_passphrase_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_PASS", "from env")
    assert read_passphrase("GW_PASS", confirm=True) == b"from env"
    monkeypatch.setenv("GW_EMPTY", "")
    with pytest.raises(BackupError, match="GW_EMPTY"):
        read_passphrase("GW_EMPTY", confirm=False)
    with pytest.raises(BackupError, match="GW_UNSET_XYZ"):
        read_passphrase("GW_UNSET_XYZ", confirm=False)
    asked: list[str] = []

    def prompt_with(*answers: str) -> Callable[[str], str]:
        it = iter(answers)

        def prompt(text: str) -> str:
            asked.append(text)
            return next(it)

        return prompt

    assert read_passphrase(None, confirm=True, prompt=prompt_with("pw", "pw")) == b"pw"
    assert len(asked) == 2
    assert read_passphrase(None, confirm=False, prompt=prompt_with("pw")) == b"pw"
    with pytest.raises(BackupError, match="differ"):
        read_passphrase(None, confirm=True, prompt=prompt_with("pw", "pW"))
    with pytest.raises(BackupError, match="empty"):
        read_passphrase(None, confirm=True, prompt=prompt_with("", ""))

    def eof(text: str) -> str:
        raise EOFError

    with pytest.raises(BackupError, match="--passphrase-env"):
        read_passphrase(None, confirm=False, prompt=eof)
