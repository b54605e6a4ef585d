"""One error format everywhere: ``gateway: error: <code>: <sentence>``, the API's codes alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.errors import (
    ApiError,
    ConfigError,
    ContactError,
    EntryError,
    InviteError,
    NotParticipantError,
    class_code,
)
from tests.unit.api.nodeapp import init_node


def test_codes_are_stable_snake_case() -> None:
    assert class_code(ContactError) == "contact"
    assert class_code(NotParticipantError) == "not_participant"
    assert ConfigError(None, "tor.mode", "launch or attach").code == "config"
    assert InviteError("expired", "this invite expired").code == "invite_expired"
    assert EntryError("bad_signature", "x").code == "entry_bad_signature"
    assert ApiError("no such entry", api_code="not_found").code == "not_found"
    assert ApiError("the node's API did not answer").code == "api"


def test_a_local_error_prints_code_and_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_node(tmp_path, "alice")
    capsys.readouterr()
    assert main(["--config", str(tmp_path / "node.yaml"), "contacts", "remove", "nobody"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gateway: error: contact: ") and "ContactError" not in err


def test_a_config_error_prints_code_and_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "node.yaml"
    config.write_text("tor: {mode: sideways}\n")
    assert main(["--config", str(config), "config", "show"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gateway: error: config: {config}: tor.mode: expected ")


def test_no_config_file_suggests_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "missing.yaml"
    assert main(["--config", str(config), "peers"]) == 2
    err = capsys.readouterr().err
    assert f"gateway --config {config} init" in err and "--config PATH" in err
