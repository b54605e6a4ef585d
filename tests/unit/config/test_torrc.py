"""torrc rendering: order, per-level options, the HiddenServiceDir block, and tor's own check."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.config.schema import GatewayConfig, Level
from gateway.config.torrc import TorrcContext, render_torrc
from gateway.errors import ConfigError
from tests.unit.config.support import tor_verify, write_config


def _config(tmp_path: Path, level: Level, extra: str = "") -> GatewayConfig:
    text = f"node: {{name: n, state_dir: st}}\nsecurity: {{level: {level.value}}}\n{extra}"
    return load_config(write_config(tmp_path, text))


def _ctx(tmp_path: Path, cfg: GatewayConfig, *, hs: bool | None = None) -> TorrcContext:
    state = cfg.node.state_dir
    use_hs = cfg.security.level is not Level.STANDARD if hs is None else hs
    return TorrcContext(
        data_dir=state / "tor",
        control_socket=state / "tor" / "control.sock",
        socks_port=39123,
        hidden_service_dir=state / "hs" if use_hs else None,
        hidden_service_target_port=8181 if use_hs else None,
    )


def _lines(text: str) -> list[str]:
    return text.splitlines()


def test_standard_torrc(tmp_path: Path) -> None:
    cfg = _config(tmp_path, Level.STANDARD)
    lines = _lines(render_torrc(cfg, _ctx(tmp_path, cfg)))
    state = cfg.node.state_dir
    assert lines[:6] == [
        f"DataDirectory {state}/tor",
        f"ControlSocket unix:{state}/tor/control.sock",
        "ControlSocketsGroupWritable 0",
        "CookieAuthentication 1",
        "SocksPort 127.0.0.1:39123 ExtendedErrors",  # tor says why an onion failed
        f"Log notice file {state}/tor/notice.log",
    ]
    assert "SafeLogging 1" in lines
    assert not any(ln.startswith("HiddenService") for ln in lines)
    assert not any("stdout" in ln for ln in lines)
    assert "Sandbox 1" not in lines


def test_high_torrc_has_isolation_padding_and_service_block(tmp_path: Path) -> None:
    cfg = _config(tmp_path, Level.HIGH)
    lines = _lines(render_torrc(cfg, _ctx(tmp_path, cfg)))
    state = cfg.node.state_dir
    assert "SocksPort 127.0.0.1:39123 ExtendedErrors IsolateSOCKSAuth" in lines
    assert "ConnectionPadding 1" in lines
    assert "Sandbox 1" not in lines
    i = lines.index(f"HiddenServiceDir {state}/hs")
    assert lines[i + 1 : i + 6] == [
        "HiddenServicePort 80 127.0.0.1:8181",
        "HiddenServiceVersion 3",
        "HiddenServiceExportCircuitID haproxy",
        "HiddenServicePoWDefensesEnabled 1",
        "HiddenServiceEnableIntroDoSDefense 1",
    ]
    assert lines.index("ConnectionPadding 1") < i


def test_paranoid_torrc_adds_sandbox(tmp_path: Path) -> None:
    cfg = _config(tmp_path, Level.PARANOID)
    lines = _lines(render_torrc(cfg, _ctx(tmp_path, cfg)))
    assert "Sandbox 1" in lines
    assert "ReducedConnectionPadding 0" in lines
    hs = next(i for i, ln in enumerate(lines) if ln.startswith("HiddenServiceDir "))
    assert lines.index("Sandbox 1") < hs
    assert lines.index("HiddenServicePoWDefensesEnabled 1") > hs


def test_order_testnet_then_level_then_service_then_extra(tmp_path: Path) -> None:
    net = tmp_path / "net"
    net.mkdir()
    client_conf = "TestingTorNetwork 1\nDirAuthority test orport=5000 127.0.0.1:7000 AAAA\n"
    (net / "client.conf").write_text(client_conf)
    extra = (
        "tor: {testnet: net, extra_torrc: ['NumEntryGuards 2']}\n"
        "security: {level: high, overrides: {tor: {ConnectionPadding: auto}}}\n"
    )
    text = f"node: {{name: n, state_dir: st}}\n{extra}"
    cfg = load_config(write_config(tmp_path, text))
    lines = _lines(render_torrc(cfg, _ctx(tmp_path, cfg, hs=True)))
    log = next(i for i, ln in enumerate(lines) if ln.startswith("Log notice file"))
    testing = lines.index("TestingTorNetwork 1")
    assert lines[testing + 1] == "DirAuthority test orport=5000 127.0.0.1:7000 AAAA"
    padding = lines.index("ConnectionPadding auto")
    hs = next(i for i, ln in enumerate(lines) if ln.startswith("HiddenServiceDir "))
    assert log < testing < padding < hs < lines.index("NumEntryGuards 2")
    assert lines[-1] == "NumEntryGuards 2"


def test_client_onion_auth_dir_is_rendered_when_set(tmp_path: Path) -> None:
    cfg = _config(tmp_path, Level.STANDARD)
    ctx = _ctx(tmp_path, cfg)
    auth = tmp_path / "auth"
    text = render_torrc(cfg, TorrcContext(ctx.data_dir, ctx.control_socket, 1, None, None, auth))
    assert f"ClientOnionAuthDir {auth}" in _lines(text)
    assert "ClientOnionAuthDir" not in render_torrc(cfg, ctx)


def test_torrc_provisioning_needs_a_service_dir(tmp_path: Path) -> None:
    cfg = _config(tmp_path, Level.HIGH)
    with pytest.raises(ConfigError, match="onion_provisioning"):
        render_torrc(cfg, _ctx(tmp_path, cfg, hs=False))


@pytest.mark.parametrize("bad", ["a\nControlPort 1", "a\rb", "tab\x00nul"])
def test_paths_with_control_characters_are_refused(tmp_path: Path, bad: str) -> None:
    cfg = _config(tmp_path, Level.STANDARD)
    ctx = _ctx(tmp_path, cfg)
    with pytest.raises(ConfigError, match=r"node\.state_dir"):
        render_torrc(cfg, TorrcContext(tmp_path / bad, ctx.control_socket, 9050))


def test_paths_with_spaces_and_long_socket_paths_are_refused(tmp_path: Path) -> None:
    cfg = _config(tmp_path, Level.STANDARD)
    ctx = _ctx(tmp_path, cfg)
    with pytest.raises(ConfigError, match="without spaces"):
        render_torrc(cfg, TorrcContext(tmp_path / "a b", ctx.control_socket, 9050))
    with pytest.raises(ConfigError, match="at most 107 bytes"):
        render_torrc(cfg, TorrcContext(ctx.data_dir, tmp_path / ("x" * 120), 9050))


def test_control_characters_in_testnet_lines_are_refused(tmp_path: Path) -> None:
    net = tmp_path / "net"
    net.mkdir()
    (net / "client.conf").write_text("TestingTorNetwork 1\nNickname a\x1bb\n")
    text = "node: {name: n, state_dir: st}\ntor: {testnet: net}\n"
    cfg = load_config(write_config(tmp_path, text))
    with pytest.raises(ConfigError, match="without control characters"):
        render_torrc(cfg, _ctx(tmp_path, cfg))


def test_bad_socks_port_is_refused(tmp_path: Path) -> None:
    cfg = _config(tmp_path, Level.STANDARD)
    ctx = _ctx(tmp_path, cfg)
    with pytest.raises(ConfigError, match=r"tor\.socks_port"):
        render_torrc(cfg, TorrcContext(ctx.data_dir, ctx.control_socket, 0))


@pytest.mark.parametrize("level", list(Level))
def test_tor_accepts_the_rendered_torrc(tmp_path: Path, level: Level) -> None:
    cfg = _config(tmp_path, level)
    torrc = tmp_path / "torrc"
    torrc.write_text(render_torrc(cfg, _ctx(tmp_path, cfg)))
    result = tor_verify(torrc)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration was valid" in result.stdout


def test_tor_rejects_a_broken_torrc(tmp_path: Path) -> None:
    """The verify helper can fail: a per-service option without HiddenServiceDir is invalid."""
    torrc = tmp_path / "torrc"
    torrc.write_text(f"DataDirectory {tmp_path}/d\nHiddenServicePoWDefensesEnabled 1\n")
    assert tor_verify(torrc).returncode != 0
