"""State paths, file modes, atomic writes, identity key files and the API token."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from gateway.errors import KeyFileError, StateError
from gateway.state.keys import (
    IdentityKeys,
    generate_api_token,
    load_api_token,
    save_api_token,
)
from gateway.state.paths import StatePaths, check_mode, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def state(tmp_path: Path) -> StatePaths:
    paths = StatePaths(tmp_path / "state")
    paths.create()
    return paths


def _init(state: StatePaths) -> IdentityKeys:
    keys = IdentityKeys.generate()
    keys.save(state)
    save_api_token(state, generate_api_token())
    from gateway.state.onion_key import OnionKey

    OnionKey.generate().save(state.onion_key)
    return keys


def test_layout(tmp_path: Path) -> None:
    p = StatePaths(tmp_path)
    assert p.tor_data_dir == tmp_path / "tor"
    assert p.hs_dir == tmp_path / "hs"
    assert p.db == tmp_path / "node.db"
    assert p.api_token == tmp_path / "api.token"
    assert len({p.identity_key, p.static_key, p.onion_key, p.api_token}) == 4


def test_create_makes_a_private_dir(state: StatePaths) -> None:
    assert _mode(state.root) == 0o700


def test_create_refuses_an_open_existing_dir(tmp_path: Path) -> None:
    root = tmp_path / "open"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    with pytest.raises(StateError, match="mode 0755"):
        StatePaths(root).create()


def test_files_are_written_0600(state: StatePaths) -> None:
    _init(state)
    for path in state.key_files():
        assert _mode(path) == 0o600, path
    state.check()


def test_check_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="does not exist"):
        StatePaths(tmp_path / "nope").check()


def test_check_missing_key_file(state: StatePaths) -> None:
    _init(state)
    state.static_key.unlink()
    with pytest.raises(KeyFileError, match=r"static\.key is missing"):
        state.check()
    state.check(require_keys=False)


def test_check_too_open_file_names_file_and_mode(state: StatePaths) -> None:
    _init(state)
    state.identity_key.chmod(0o644)
    with pytest.raises(KeyFileError) as info:
        state.check()
    assert str(state.identity_key) in str(info.value)
    assert "0644" in str(info.value)


def test_check_too_open_dir(state: StatePaths) -> None:
    _init(state)
    state.hs_dir.mkdir(mode=0o700)
    state.hs_dir.chmod(0o750)
    with pytest.raises(StateError, match="0750"):
        state.check()


def test_load_refuses_too_open_key(state: StatePaths) -> None:
    _init(state)
    state.static_key.chmod(0o640)
    with pytest.raises(KeyFileError, match="0640"):
        IdentityKeys.load(state)


def test_check_refuses_a_symlink(state: StatePaths, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("x")
    target.chmod(0o600)
    state.identity_key.symlink_to(target)
    with pytest.raises(KeyFileError, match="symbolic link"):
        check_mode(state.identity_key)


def test_identity_keys_round_trip(state: StatePaths) -> None:
    keys = _init(state)
    again = IdentityKeys.load(state)
    assert again.signing_public == keys.signing_public
    assert again.static_public == keys.static_public
    sig = again.signing.sign(b"msg")
    keys.signing.public_key().verify(sig, b"msg")  # raises if the key differs


def test_key_file_format_is_versioned_text(state: StatePaths) -> None:
    keys = _init(state)
    lines = state.identity_key.read_text().splitlines()
    assert lines[0] == "gateway-key v1 ed25519-identity"
    assert base64.b64decode(lines[2].split()[1]) == keys.signing_public
    assert state.static_key.read_text().startswith("gateway-key v1 x25519-static\n")


def _rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace("v1", "v9"), "expected header"),
        (lambda t: "", "expected header"),
        (lambda t: t + "extra\n", "expected 3 lines"),
        (lambda t: t.replace("secret ", "secrit "), "'secret' line"),
        (lambda t: t.replace("secret ", "secret !!"), "not valid base64"),
        (lambda t: t.replace("public ", "public AAAA"), "bytes, expected 32"),
    ],
)
def test_malformed_key_files_are_refused(state: StatePaths, mutate: object, message: str) -> None:
    _init(state)
    text = state.identity_key.read_text()
    _rewrite(state.identity_key, mutate(text))  # type: ignore[operator]
    with pytest.raises(KeyFileError, match=message):
        IdentityKeys.load(state)


def test_tampered_secret_is_detected(state: StatePaths) -> None:
    _init(state)
    header, secret_line, public_line = state.static_key.read_text().splitlines()
    raw = bytearray(base64.b64decode(secret_line.split()[1]))
    raw[5] ^= 0x01
    tampered = f"secret {base64.b64encode(bytes(raw)).decode()}"
    _rewrite(state.static_key, f"{header}\n{tampered}\n{public_line}\n")
    with pytest.raises(KeyFileError, match="does not match"):
        IdentityKeys.load(state)


def test_binary_garbage_is_refused(state: StatePaths) -> None:
    _init(state)
    state.identity_key.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(KeyFileError, match="not UTF-8"):
        IdentityKeys.load(state)


def test_missing_key_file_on_load(state: StatePaths) -> None:
    with pytest.raises(KeyFileError, match="missing"):
        IdentityKeys.load(state)


def test_api_token(state: StatePaths) -> None:
    token = generate_api_token()
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert generate_api_token() != token
    save_api_token(state, token)
    assert _mode(state.api_token) == 0o600
    assert load_api_token(state) == token
    _rewrite(state.api_token, "short\n")
    with pytest.raises(KeyFileError, match="32-byte"):
        load_api_token(state)


def test_write_private_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "f"
    write_private(target, b"one")
    write_private(target, b"two")
    assert target.read_bytes() == b"two"
    assert _mode(target) == 0o600
    assert os.listdir(tmp_path) == ["f"]  # no temp files left


def test_write_private_keeps_old_content_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f"
    write_private(target, b"old")

    def fail(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(StateError, match="No space left"):
        write_private(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_write_private_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "f"
    write_private(target, b"one", overwrite=False)
    with pytest.raises(StateError, match="already exists"):
        write_private(target, b"two", overwrite=False)
    assert target.read_bytes() == b"one"


def test_write_private_ignores_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "f") == 0o600
