"""`gateway init`, `gateway levels` and `gateway config show`, end to end in temp dirs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.config.schema import Level
from gateway.state.keys import IdentityKeys, load_api_token
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths
from tests.unit.config.support import run_cli, snapshot, write_config

Capsys = pytest.CaptureFixture[str]


def _init(capsys: Capsys, config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--config", str(config), "init", *args)


def test_init_writes_config_and_keys(tmp_path: Path, capsys: Capsys) -> None:
    config = tmp_path / "config" / "node.yaml"
    state_dir = tmp_path / "state" / "alice"
    status, out, err = _init(
        capsys, config, "--name", "alice", "--level", "high", "--state-dir", str(state_dir)
    )
    assert status == 0, err
    cfg = load_config(config)
    assert cfg.node.name == "alice"
    assert cfg.security.level is Level.HIGH
    assert cfg.node.state_dir == state_dir.resolve()
    assert "state_dir: ../state/alice" in config.read_text()
    assert config.read_text().startswith("# gateway node configuration")

    paths = StatePaths(cfg.node.state_dir)
    paths.check()
    assert stat.S_IMODE(paths.root.stat().st_mode) == 0o700
    for path in paths.key_files():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    address = OnionKey.load(paths.onion_key).address
    assert f"{address}.onion" in out
    IdentityKeys.load(paths)
    assert len(load_api_token(paths)) == 43


def test_init_twice_refuses_then_force_keeps_the_address(tmp_path: Path, capsys: Capsys) -> None:
    config = tmp_path / "node.yaml"
    state = tmp_path / "st"
    assert _init(capsys, config, "--state-dir", str(state))[0] == 0
    address = OnionKey.load(StatePaths(state).onion_key).address
    identity = IdentityKeys.load(StatePaths(state)).signing_public
    before = snapshot(tmp_path)
    status, _, err = _init(capsys, config, "--state-dir", str(state), "--level", "paranoid")
    assert status == 2
    assert f"{config}: <top level>: expected a path with no config yet" in err
    assert snapshot(tmp_path) == before

    status, out, _ = _init(
        capsys, config, "--state-dir", str(state), "--level", "paranoid", "--force"
    )
    assert status == 0
    assert f"{address}.onion" in out
    assert "kept existing keys" in out
    cfg = load_config(config)
    assert cfg.security.level is Level.PARANOID
    assert OnionKey.load(StatePaths(cfg.node.state_dir).onion_key).address == address
    assert IdentityKeys.load(StatePaths(cfg.node.state_dir)).signing_public == identity


def test_init_with_testnet(tmp_path: Path, capsys: Capsys) -> None:
    net = tmp_path / "net"
    net.mkdir()
    (net / "client.conf").write_text("TestingTorNetwork 1\n")
    config = tmp_path / "node.yaml"
    status, _, err = _init(
        capsys, config, "--testnet", str(net), "--state-dir", str(tmp_path / "s")
    )
    assert status == 0, err
    assert load_config(config).tor.testnet == net.resolve()


def test_init_with_bad_testnet_writes_nothing(tmp_path: Path, capsys: Capsys) -> None:
    (tmp_path / "net").mkdir()
    before = snapshot(tmp_path)
    config = tmp_path / "node.yaml"
    status, _, err = _init(capsys, config, "--testnet", str(tmp_path / "net"))
    assert status == 2
    assert "tor.testnet: expected a testnet directory holding client.conf" in err
    assert str(config) in err
    assert snapshot(tmp_path) == before


def test_init_with_bad_name_writes_nothing(tmp_path: Path, capsys: Capsys) -> None:
    before = snapshot(tmp_path)
    status, _, err = _init(capsys, tmp_path / "node.yaml", "--name", "bad name!")
    assert status == 2
    assert "node.name: expected 1-64 letters" in err
    assert snapshot(tmp_path) == before


def test_init_refuses_partial_state(tmp_path: Path, capsys: Capsys) -> None:
    state = tmp_path / "st"
    assert _init(capsys, tmp_path / "a.yaml", "--state-dir", str(state))[0] == 0
    (state / "static.key").unlink()
    status, _, err = _init(capsys, tmp_path / "b.yaml", "--state-dir", str(state))
    assert status == 1
    assert "static.key" in err
    assert not (tmp_path / "b.yaml").exists()


def test_init_refuses_too_open_existing_key(tmp_path: Path, capsys: Capsys) -> None:
    state = tmp_path / "st"
    assert _init(capsys, tmp_path / "a.yaml", "--state-dir", str(state))[0] == 0
    (state / "onion.key").chmod(0o644)
    status, _, err = _init(capsys, tmp_path / "b.yaml", "--state-dir", str(state))
    assert status == 1
    assert "onion.key has mode 0644" in err


def test_default_state_dir_is_state_name_under_cwd(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _init(capsys, Path("config/node.yaml"), "--name", "bob")[0] == 0
    cfg = load_config(tmp_path / "config" / "node.yaml")
    assert cfg.node.state_dir == (tmp_path / "state" / "bob").resolve()


def test_levels_prints_an_aligned_table(capsys: Capsys) -> None:
    status, out, _ = run_cli(capsys, "levels")
    assert status == 0
    lines = out.splitlines()
    header = lines[0].split()
    assert header == ["setting", "standard", "high", "paranoid"]
    row = next(ln for ln in lines if ln.startswith("cover_traffic"))
    assert row.split() == ["cover_traffic", "none", "front", "constant_rate"]
    col = lines[0].index("high")
    assert row[col:].startswith("front")
    sandbox = next(ln for ln in lines if ln.startswith("tor Sandbox"))
    assert sandbox.split()[2:] == ["-", "-", "1"]


def test_config_show_marks_overrides(tmp_path: Path, capsys: Capsys) -> None:
    path = write_config(
        tmp_path, "security: {level: high, overrides: {policy: {cover_traffic: none}}}\n"
    )
    status, out, _ = run_cli(capsys, "--config", str(path), "config", "show")
    assert status == 0
    lines = out.splitlines()
    cover = next(ln for ln in lines if ln.startswith("security.policy.cover_traffic"))
    assert cover.endswith("= none  *")
    padding = next(ln for ln in lines if ln.startswith("security.policy.padding_mode"))
    assert padding.endswith("= buckets")
    assert any(ln.startswith("* = set by security.overrides") for ln in lines)


def test_config_show_json(tmp_path: Path, capsys: Capsys) -> None:
    path = write_config(tmp_path, "security: {overrides: {tor: {ConnectionPadding: '0'}}}\n")
    status, out, _ = run_cli(capsys, "--config", str(path), "config", "show", "--json")
    assert status == 0
    data = json.loads(out)
    assert data["overridden"] == ["security.tor.ConnectionPadding"]
    assert data["effective"]["security"]["tor"]["ConnectionPadding"] == "0"
    assert data["effective"]["source"] == str(path)
