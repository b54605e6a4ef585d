"""With a node running, `gateway invite` and `gateway contacts ...` go through its API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import contacts_cmd, invite_cmd, main

INVITE = {
    "invite": "gw1:abc", "link": "gateway:invite/gw1:abc", "expires": 1, "expires_utc": "X",
    "label": "bob", "nickname": "alice", "level": "standard", "post_quantum": False,
    "client_auth": False, "onion": "x.onion",
}  # fmt: skip
CONTACT = {"id": "ab" * 32, "nickname": "bob", "onion": "y.onion", "state": "pending"}


class Api:
    def __init__(self, reply: Any) -> None:
        self.reply, self.calls = reply, []

    def __call__(self, cfg: Any, method: str, path: str, body: Any = None, **_: Any) -> Any:
        self.calls.append((method, path, body))
        return self.reply


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "node.yaml"
    argv = ["--config", str(path), "init", "--state-dir", str(tmp_path / "state")]
    assert main(argv) == 0
    return path


def running(monkeypatch: pytest.MonkeyPatch, module: Any, reply: Any) -> Api:
    api = Api(reply)
    monkeypatch.setattr(module, "node_running", lambda cfg: True)
    monkeypatch.setattr(module, "call", api)
    return api


def test_invite_is_made_by_the_running_node(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running(monkeypatch, invite_cmd, INVITE)
    assert main(["--config", str(config), "invite", "--json", "--label", "bob"]) == 0
    assert api.calls == [
        ("POST", "/api/v1/invites", {"expires_in": 86400, "label": "bob", "nickname": None})
    ]
    assert json.loads(capsys.readouterr().out) == INVITE
    assert main(["--config", str(config), "invite", "--no-qr"]) == 0
    assert "gw1:abc" in capsys.readouterr().out


def test_invite_without_a_node_uses_the_database(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "invite", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["invite"].startswith("gw1:")


def test_contacts_add_list_remove_through_the_api(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = running(monkeypatch, contacts_cmd, CONTACT)
    assert main(["--config", str(config), "contacts", "add", "gw1:x", "--nickname", "bob"]) == 0
    assert api.calls[-1] == ("POST", "/api/v1/contacts", {"invite": "gw1:x", "nickname": "bob"})
    assert "added bob" in capsys.readouterr().out
    api.reply = {"contacts": [CONTACT]}
    assert main(["--config", str(config), "contacts", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [CONTACT]
    api.reply = {"removed": CONTACT, "auth_removed": True, "auth_private_removed": False}
    assert main(["--config", str(config), "contacts", "remove", "bob x"]) == 0
    assert api.calls[-1] == ("DELETE", "/api/v1/contacts/bob%20x", None)
    out = capsys.readouterr().out
    assert "removed bob" in out and "revoked its client authorization" in out
