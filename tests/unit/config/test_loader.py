"""Good configs load into the frozen schema, with paths resolved and overrides remembered."""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
from pathlib import Path

import pytest

from gateway.config.effective import flatten
from gateway.config.levels import POLICIES
from gateway.config.loader import dump_effective, load_config, load_config_text, overridden_keys
from gateway.config.schema import (
    CoverTraffic,
    Level,
    OnionProvisioning,
    OnTorDeath,
    TorMode,
)
from tests.unit.config.support import write_config

REPO = Path(__file__).resolve().parents[3]

FULL = """\
node: {name: alice, state_dir: ../state/alice}
security:
  level: high
  overrides:
    policy: {cover_traffic: none}
    tor: {ConnectionPadding: "0", NumEntryGuards: 2}
tor:
  mode: launch
  binary: tor
  testnet: null
  bootstrap_timeout: 30
  publish_timeout: 45.5
  on_tor_death: exit
  max_restarts: 0
  control: {port: null, socket: null, password_env: null, cookie_path: null}
  socks_port: 19050
  extra_torrc: ["Log info file /tmp/x.log", "# a comment", ""]
onion: {virtual_port: 8080}
http: {host: localhost, port: 0}
logging: {level: debug}
"""


def test_full_config_loads_every_field(tmp_path: Path) -> None:
    conf_dir = tmp_path / "config"
    conf_dir.mkdir()
    cfg = load_config(write_config(conf_dir, FULL))
    assert cfg.source == conf_dir / "node.yaml"
    assert cfg.node.name == "alice"
    assert cfg.node.state_dir == (tmp_path / "state" / "alice").resolve()
    assert cfg.tor.mode is TorMode.LAUNCH
    assert cfg.tor.binary == shutil.which("tor")
    assert cfg.tor.bootstrap_timeout == 30.0
    assert cfg.tor.publish_timeout == 45.5
    assert cfg.tor.on_tor_death is OnTorDeath.EXIT
    assert cfg.tor.max_restarts == 0
    assert cfg.tor.socks_port == 19050
    assert cfg.tor.extra_torrc == ("Log info file /tmp/x.log", "# a comment", "")
    assert cfg.onion.virtual_port == 8080
    assert cfg.http.host == "localhost"
    assert cfg.logging.level == "debug"


def test_overrides_replace_single_settings_and_are_remembered(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, FULL))
    sec = cfg.security
    assert sec.level is Level.HIGH
    assert sec.policy.cover_traffic is CoverTraffic.NONE
    assert sec.policy.padding_mode is POLICIES[Level.HIGH].padding_mode
    options = dict(sec.tor_options)
    assert options["ConnectionPadding"] == "0"
    assert options["NumEntryGuards"] == "2"
    assert sec.overridden == {"policy.cover_traffic", "tor.ConnectionPadding", "tor.NumEntryGuards"}
    names = [name for name, _ in sec.tor_options]
    assert names.index("NumEntryGuards") < names.index("HiddenServicePoWDefensesEnabled")
    assert len(names) == len(set(names))


def test_tor_option_names_are_matched_case_insensitively(tmp_path: Path) -> None:
    path = write_config(tmp_path, "security: {overrides: {tor: {connectionpadding: '1'}}}\n")
    assert ("ConnectionPadding", "1") in load_config(path).security.tor_options


def test_empty_sections_give_the_defaults(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, "node: {}\n"))
    assert cfg.security.level is Level.STANDARD
    assert cfg.security.policy == POLICIES[Level.STANDARD]
    assert cfg.security.overridden == frozenset()
    assert cfg.node.state_dir == (tmp_path / "state").resolve()
    assert cfg.http.port == 0
    assert cfg.onion.virtual_port == 80


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_hosts_are_accepted(tmp_path: Path, host: str) -> None:
    cfg = load_config(write_config(tmp_path, f"http: {{host: '{host}', port: 0}}\n"))
    assert cfg.http.host == host


def test_free_port_is_accepted(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = load_config(write_config(tmp_path, f"http: {{port: {port}}}\n"))
    assert cfg.http.port == port


def test_attach_mode_with_socket_cookie_and_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock_path = tmp_path / "c.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock_path))
        (tmp_path / "cookie").write_bytes(b"x" * 32)
        monkeypatch.setenv("GW_PW", "secret")
        text = (
            "tor: {mode: attach, binary: /nonexistent/tor, socks_port: 9050,"
            " control: {socket: c.sock, cookie_path: cookie, password_env: GW_PW}}\n"
        )
        cfg = load_config(write_config(tmp_path, text))
    assert cfg.tor.mode is TorMode.ATTACH
    assert cfg.tor.binary == "/nonexistent/tor"  # not resolved in attach mode
    assert cfg.tor.control.socket == sock_path.resolve()
    assert cfg.tor.control.cookie_path == (tmp_path / "cookie").resolve()
    assert cfg.tor.control.password_env == "GW_PW"


def test_testnet_dir_with_client_conf(tmp_path: Path) -> None:
    net = tmp_path / "net"
    net.mkdir()
    (net / "client.conf").write_text("TestingTorNetwork 1\n")
    cfg = load_config(write_config(tmp_path, "tor: {testnet: net}\n"))
    assert cfg.tor.testnet == net.resolve()


def test_paranoid_accepts_equal_or_stronger_overrides(tmp_path: Path) -> None:
    text = (
        "security: {level: paranoid, overrides: {policy: {cover_traffic: constant_rate},"
        " tor: {Sandbox: 1, NumEntryGuards: 1}}}\n"
    )
    cfg = load_config(write_config(tmp_path, text))
    assert cfg.security.policy == POLICIES[Level.PARANOID]
    assert ("Sandbox", "1") in cfg.security.tor_options


def test_weakening_is_allowed_below_paranoid(tmp_path: Path) -> None:
    text = "security: {level: high, overrides: {policy: {log_redaction: debug_only}}}\n"
    cfg = load_config(write_config(tmp_path, text))
    assert cfg.security.policy.log_redaction.value == "debug_only"
    assert cfg.security.policy.onion_provisioning is OnionProvisioning.TORRC


def test_config_objects_are_frozen(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, "node: {name: a}\n"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.node.name = "b"  # type: ignore[misc]


def test_dump_effective_is_json_and_marks_overrides(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, FULL))
    data = dump_effective(cfg)
    assert json.loads(json.dumps(data)) == data
    assert data["security"]["policy"]["cover_traffic"] == "none"
    assert data["security"]["tor"]["ConnectionPadding"] == "0"
    assert data["tor"]["on_tor_death"] == "exit"
    marked = overridden_keys(cfg)
    assert marked == {
        "security.policy.cover_traffic",
        "security.tor.ConnectionPadding",
        "security.tor.NumEntryGuards",
    }
    flat = dict(flatten(data))
    assert marked <= set(flat)


def test_load_config_text_resolves_against_the_given_path(tmp_path: Path) -> None:
    cfg = load_config_text("node: {state_dir: s}\n", tmp_path / "sub" / "x.yaml")
    assert cfg.node.state_dir == (tmp_path / "sub" / "s").resolve()


def test_example_config_loads() -> None:
    cfg = load_config(REPO / "config" / "example.yaml")
    assert cfg.node.name == "alice"
    assert cfg.security.level is Level.STANDARD
