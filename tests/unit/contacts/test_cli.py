"""`gateway invite` and `gateway contacts add|list|remove`, end to end in temp state dirs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pytest

from gateway.cli.invite_cmd import parse_duration
from gateway.contacts.client_auth import ClientAuthKey, auth_file_path, parse_auth_file
from gateway.contacts.invite import parse_invite
from gateway.state.keys import IdentityKeys
from gateway.state.paths import StatePaths
from tests.unit.config.support import run_cli

Capsys = pytest.CaptureFixture[str]


def _init(capsys: Capsys, tmp_path: Path, name: str, level: str) -> Path:
    config = tmp_path / f"{name}.yaml"
    state = tmp_path / "state" / name
    status, _, err = run_cli(
        capsys, "--config", str(config), "init", "--name", name, "--level", level,
        "--state-dir", str(state),
    )  # fmt: skip
    assert status == 0, err
    return config


def _gw(capsys: Capsys, config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--config", str(config), *args)


def _paths(tmp_path: Path, name: str) -> StatePaths:
    return StatePaths(tmp_path / "state" / name)


def test_paranoid_invite_add_list_remove(tmp_path: Path, capsys: Capsys) -> None:
    alice = _init(capsys, tmp_path, "alice", "paranoid")
    bob = _init(capsys, tmp_path, "bob", "paranoid")
    status, out, err = _gw(capsys, alice, "invite", "--json", "--label", "bob", "--expires", "2h")
    assert status == 0, err
    made = json.loads(out)
    invite = parse_invite(made["invite"])
    assert made["link"] == "gateway:invite/" + made["invite"]
    assert made["client_auth"] is True and made["level"] == "paranoid" and made["post_quantum"]
    assert made["nickname"] == "alice" and made["label"] == "bob"
    assert 7190 <= made["expires"] - time.time() <= 7201
    assert invite.identity_key == IdentityKeys.load(_paths(tmp_path, "alice")).signing_public
    invitee_public = ClientAuthKey(invite.client_auth_private or b"").public
    alice_auth = _paths(tmp_path, "alice").hs_dir / "authorized_clients"
    assert parse_auth_file(auth_file_path(alice_auth, invitee_public).read_text()) == invitee_public

    status, out, err = _gw(capsys, bob, "contacts", "add", made["link"])
    assert status == 0, err
    assert out.startswith("added alice (") and "pending" in out
    assert f"{invite.onion_address}.onion" in out
    bob_paths = _paths(tmp_path, "bob")
    auth_private = bob_paths.root / "client_auth" / f"{invite.onion_address}.auth_private"
    assert auth_private.read_text().startswith(f"{invite.onion_address}:descriptor:x25519:")
    bob_auth = list((bob_paths.hs_dir / "authorized_clients").glob("*.auth"))
    assert len(bob_auth) == 1  # the key Bob will offer Alice on the first link

    status, out, _ = _gw(capsys, bob, "contacts", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["nickname"] == "alice" and listed["state"] == "pending"
    assert listed["id"] == invite.identity_key.hex()
    assert listed["client_auth_to_reach"] and listed["client_auth_authorized"]
    assert "secret" not in out and "private" not in json.dumps(list(listed))
    status, out, _ = _gw(capsys, bob, "contacts", "list")
    assert out.splitlines()[0].split() == ["NICKNAME", "ID", "STATE", "ONION", "LAST", "SEEN"]
    assert out.splitlines()[1].split()[:3] == ["alice", invite.identity_key.hex()[:16], "pending"]

    status, _, err = _gw(capsys, bob, "contacts", "add", made["invite"])
    assert status == 1 and "error: invite_reused: " in err
    status, _, err = _gw(capsys, alice, "contacts", "add", made["invite"])
    assert status == 1 and "error: invite_self: " in err

    status, out, err = _gw(capsys, bob, "contacts", "remove", "alice")
    assert status == 0, err
    assert "removed alice" in out and "revoked its client authorization" in out
    assert not auth_private.exists() and not bob_auth[0].exists()
    status, out, _ = _gw(capsys, bob, "contacts", "list")
    assert out.startswith("no contacts")
    status, _, err = _gw(capsys, bob, "contacts", "remove", "alice")
    assert status == 1 and "no contact named or with id 'alice'" in err


def test_standard_invite_text_and_qr(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = _init(capsys, tmp_path, "alice", "standard")
    status, out, err = _gw(capsys, alice, "invite", "--no-qr")
    assert status == 0, err
    lines = out.splitlines()
    invite = parse_invite(lines[1])
    assert invite.client_auth_private is None and not invite.post_quantum
    assert f"link: gateway:invite/{lines[1]}" in lines
    assert "█" not in out
    assert not (_paths(tmp_path, "alice").hs_dir / "authorized_clients").exists()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    status, out, _ = _gw(capsys, alice, "invite")
    assert status == 0 and "█" in out and "▀" in out
    status, out, _ = _gw(capsys, alice, "invite", "--no-qr")
    assert "█" not in out


def test_bad_arguments_and_missing_state(tmp_path: Path, capsys: Capsys) -> None:
    alice = _init(capsys, tmp_path, "alice", "high")
    with pytest.raises(SystemExit) as info:
        _gw(capsys, alice, "invite", "--expires", "31d")
    assert info.value.code == 2
    assert "a duration from 1s to 30d" in capsys.readouterr().err
    status, _, err = _gw(capsys, alice, "contacts", "add", "gw1:zzzz")
    assert status == 1 and "error: invite_malformed: " in err
    status, _, err = _gw(capsys, tmp_path / "nope.yaml", "contacts", "list")
    assert status == 2 and "nope.yaml" in err


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("24h", 86400), ("7D", 604800)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "1w", "31d", "h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)
