"""Bad configs: each names the file, the key path and the expected form; exit 2; no writes."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.errors import ConfigError
from tests.unit.config.support import run_cli, snapshot, write_config

Setup = Callable[[Path, pytest.MonkeyPatch], str]


def _text(yaml_text: str) -> Setup:
    return lambda _tmp, _mp: yaml_text


def _binary_not_executable(tmp: Path, _mp: pytest.MonkeyPatch) -> str:
    fake = tmp / "faketor"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o644)
    return "tor: {binary: ./faketor}\n"


def _testnet_without_client_conf(tmp: Path, _mp: pytest.MonkeyPatch) -> str:
    (tmp / "net").mkdir()
    return "tor: {testnet: net}\n"


def _password_env_unset(tmp: Path, mp: pytest.MonkeyPatch) -> str:
    mp.delenv("GW_TEST_TOR_PASSWORD", raising=False)
    return "tor: {mode: attach, control: {port: 9051, password_env: GW_TEST_TOR_PASSWORD}}\n"


def _socket_not_a_socket(tmp: Path, _mp: pytest.MonkeyPatch) -> str:
    (tmp / "ctl").write_text("")
    return "tor: {mode: attach, control: {socket: ctl}}\n"


CASES: list[tuple[str, Setup, str, str]] = [
    ("yaml-syntax", _text("node: {name: [\n"), "<top level>", "valid YAML"),
    ("top-level-list", _text("- a\n- b\n"), "<top level>", "a mapping of sections"),
    ("top-level-scalar", _text("hello\n"), "<top level>", "a mapping of sections"),
    ("duplicate-key", _text("node: {}\nnode: {}\n"), "<top level>", "valid YAML"),
    ("unknown-top-key", _text("nodes: {}\n"), "nodes", "one of the known keys"),
    ("unknown-nested-key", _text("tor: {control: {prot: 1}}\n"), "tor.control.prot", "known keys"),
    ("bool-for-int", _text("http: {port: yes}\n"), "http.port", "an integer from 0 to 65535"),
    ("bool-for-string", _text("node: {name: on}\n"), "node.name", "a non-empty string"),
    (
        "string-for-number",
        _text("tor: {bootstrap_timeout: soon}\n"),
        "tor.bootstrap_timeout",
        "a number of seconds",
    ),
    ("section-not-mapping", _text("tor: [launch]\n"), "tor", "a mapping"),
    (
        "bad-level",
        _text("security: {level: extreme}\n"),
        "security.level",
        "one of standard | high | paranoid",
    ),
    ("bad-mode", _text("tor: {mode: spawn}\n"), "tor.mode", "one of launch | attach"),
    (
        "bad-on-death",
        _text("tor: {on_tor_death: panic}\n"),
        "tor.on_tor_death",
        "one of restart | exit",
    ),
    ("bad-log-level", _text("logging: {level: loud}\n"), "logging.level", "one of debug"),
    (
        "port-out-of-range",
        _text("onion: {virtual_port: 70000}\n"),
        "onion.virtual_port",
        "an integer from 1 to 65535",
    ),
    (
        "negative-timeout",
        _text("tor: {publish_timeout: -5}\n"),
        "tor.publish_timeout",
        "a number of seconds, more than 0",
    ),
    (
        "huge-timeout",
        _text("tor: {bootstrap_timeout: 99999}\n"),
        "tor.bootstrap_timeout",
        "at most 3600",
    ),
    (
        "negative-restarts",
        _text("tor: {max_restarts: -1}\n"),
        "tor.max_restarts",
        "an integer from 0 to 100",
    ),
    ("bad-node-name", _text("node: {name: 'a b/c'}\n"), "node.name", "letters, digits"),
    (
        "binary-missing",
        _text("tor: {binary: no-such-tor-binary-xyz}\n"),
        "tor.binary",
        "a tor binary on PATH",
    ),
    ("binary-not-executable", _binary_not_executable, "tor.binary", "an executable tor binary"),
    ("testnet-missing", _text("tor: {testnet: nowhere}\n"), "tor.testnet", "a testnet directory"),
    ("testnet-no-client-conf", _testnet_without_client_conf, "tor.testnet", "client.conf"),
    (
        "attach-no-control",
        _text("tor: {mode: attach}\n"),
        "tor.control",
        "control.port or control.socket",
    ),
    (
        "attach-socket-missing",
        _text("tor: {mode: attach, control: {socket: gone.sock}}\n"),
        "tor.control.socket",
        "an existing control socket",
    ),
    ("attach-socket-not-socket", _socket_not_a_socket, "tor.control.socket", "a unix socket"),
    (
        "cookie-unreadable",
        _text("tor: {mode: attach, control: {port: 9051, cookie_path: no-cookie}}\n"),
        "tor.control.cookie_path",
        "a readable file",
    ),
    (
        "password-env-unset",
        _password_env_unset,
        "tor.control.password_env",
        "a set environment variable",
    ),
    (
        "password-env-bad-name",
        _text("tor: {mode: attach, control: {port: 9051, password_env: 'A-B'}}\n"),
        "tor.control.password_env",
        "an environment variable name",
    ),
    (
        "control-in-launch-mode",
        _text("tor: {control: {port: 9051}}\n"),
        "tor.control.port",
        "null in launch mode",
    ),
    (
        "extra-torrc-in-attach",
        _text("tor: {mode: attach, control: {port: 9051}, extra_torrc: ['SafeLogging 1']}\n"),
        "tor.extra_torrc",
        "an empty list in attach mode",
    ),
    ("host-any", _text("http: {host: 0.0.0.0}\n"), "http.host", "a loopback host"),
    ("host-public", _text("http: {host: example.org}\n"), "http.host", "a loopback host"),
    (
        "override-unknown-policy",
        _text("security: {overrides: {policy: {coverage: none}}}\n"),
        "security.overrides.policy.coverage",
        "one of the known keys",
    ),
    (
        "override-bad-policy-value",
        _text("security: {overrides: {policy: {cover_traffic: lots}}}\n"),
        "security.overrides.policy.cover_traffic",
        "one of none | front | constant_rate",
    ),
    (
        "override-policy-string-bool",
        _text("security: {overrides: {policy: {header_encryption: 'yes'}}}\n"),
        "security.overrides.policy.header_encryption",
        "true or false",
    ),
    (
        "override-unknown-tor",
        _text("security: {overrides: {tor: {FooBar: '1'}}}\n"),
        "security.overrides.tor.FooBar",
        "a tor option",
    ),
    (
        "override-owned-tor",
        _text("security: {overrides: {tor: {ControlPort: '9051'}}}\n"),
        "security.overrides.tor.ControlPort",
        "a tor option the node does not own",
    ),
    (
        "override-illegal-tor",
        _text("security: {overrides: {tor: {HiddenServiceNonAnonymousMode: '1'}}}\n"),
        "security.overrides.tor.HiddenServiceNonAnonymousMode",
        "does not own",
    ),
    (
        "override-tor-bool",
        _text("security: {overrides: {tor: {SafeLogging: yes}}}\n"),
        "security.overrides.tor.SafeLogging",
        "a string or an integer",
    ),
    (
        "override-tor-newline",
        _text('security: {overrides: {tor: {SafeLogging: "1\\nControlPort 1"}}}\n'),
        "security.overrides.tor.SafeLogging",
        "one-line value",
    ),
    (
        "paranoid-weaker-policy",
        _text("security: {level: paranoid, overrides: {policy: {cover_traffic: none}}}\n"),
        "security.overrides.policy.cover_traffic",
        "at least as strong as paranoid's",
    ),
    (
        "paranoid-weaker-bool",
        _text("security: {level: paranoid, overrides: {policy: {post_quantum: false}}}\n"),
        "security.overrides.policy.post_quantum",
        "at least as strong",
    ),
    (
        "paranoid-weaker-tor",
        _text("security: {level: paranoid, overrides: {tor: {Sandbox: '0'}}}\n"),
        "security.overrides.tor.Sandbox",
        "kept at paranoid's value",
    ),
    (
        "paranoid-new-weakening-tor",
        _text("security: {level: paranoid, overrides: {tor: {UseEntryGuards: 0}}}\n"),
        "security.overrides.tor.UseEntryGuards",
        "kept at paranoid's value",
    ),
    (
        "paranoid-extra-torrc-weakens",
        _text("security: {level: paranoid}\ntor: {extra_torrc: ['SafeLogging 0']}\n"),
        "tor.extra_torrc[0].SafeLogging",
        "kept at paranoid's value",
    ),
    (
        "standard-with-service-option",
        _text("security: {overrides: {tor: {HiddenServicePoWDefensesEnabled: 1}}}\n"),
        "security.overrides.tor.HiddenServicePoWDefensesEnabled",
        "no per-service option",
    ),
    (
        "ephemeral-with-service-options",
        _text("security: {level: high, overrides: {policy: {onion_provisioning: ephemeral}}}\n"),
        "security.overrides.policy.onion_provisioning",
        "'torrc'",
    ),
    (
        "extra-torrc-control-port",
        _text("tor: {extra_torrc: ['ControlPort 9051']}\n"),
        "tor.extra_torrc[0].ControlPort",
        "does not own",
    ),
    (
        "extra-torrc-socks-port",
        _text("tor: {extra_torrc: ['SocksPort 9050']}\n"),
        "tor.extra_torrc[0].SocksPort",
        "does not own",
    ),
    (
        "extra-torrc-data-dir",
        _text("tor: {extra_torrc: ['DataDirectory /tmp/x']}\n"),
        "tor.extra_torrc[0].DataDirectory",
        "does not own",
    ),
    (
        "extra-torrc-hidden-service",
        _text("tor: {extra_torrc: ['HiddenServiceDir /tmp/hs']}\n"),
        "tor.extra_torrc[0]",
        "does not set HiddenService",
    ),
    (
        "extra-torrc-not-list",
        _text("tor: {extra_torrc: 'SafeLogging 1'}\n"),
        "tor.extra_torrc",
        "a list of strings",
    ),
    (
        "extra-torrc-unknown",
        _text("tor: {extra_torrc: ['NoSuchOption 1']}\n"),
        "tor.extra_torrc[0].NoSuchOption",
        "a tor option",
    ),
]


@pytest.mark.parametrize(
    ("setup", "key_path", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_config_is_refused_with_exit_2_and_nothing_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup: Setup,
    key_path: str,
    expected: str,
) -> None:
    path = write_config(tmp_path, setup(tmp_path, monkeypatch))
    before = snapshot(tmp_path)

    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(path)
    assert info.value.key_path == (key_path if key_path != "<top level>" else "")
    assert expected in info.value.expected

    status, out, err = run_cli(capsys, "--config", str(path), "config", "show")
    assert status == 2
    assert out == ""
    assert str(path) in err
    assert f": {key_path}: expected " in err
    assert expected in err
    assert snapshot(tmp_path) == before


def test_missing_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.yaml"
    status, _, err = run_cli(capsys, "--config", str(path), "config", "show")
    assert status == 2
    assert f"{path}: <top level>: expected a config file" in err and "init" in err
    assert not path.exists()


def test_not_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_bytes(b"node: {name: \xff\xfe}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "node:\n  name: alice\n  state_dir: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "line 4, column 1" in str(info.value)


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    path = write_config(tmp_path, "tor:\n  bootstrap_timout: 5\n")
    with pytest.raises(ConfigError, match="did you mean 'bootstrap_timeout'"):
        load_config(path)


def test_unknown_tor_option_suggests_the_closest(tmp_path: Path) -> None:
    path = write_config(tmp_path, "security: {overrides: {tor: {ConectionPadding: '1'}}}\n")
    with pytest.raises(ConfigError, match="did you mean 'ConnectionPadding'"):
        load_config(path)


def test_port_in_use_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = write_config(tmp_path, f"http: {{port: {port}}}\n")
        before = snapshot(tmp_path)
        status, _, err = run_cli(capsys, "--config", str(path), "run")
        assert run_cli(capsys, "--config", str(path), "config", "show")[0] == 0
    assert status == 2
    assert f"{path}: http.port: expected a free port" in err
    assert "already in use" in err
    assert snapshot(tmp_path) == before


def test_paranoid_refusal_says_no_fall_back(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, "security: {level: paranoid, overrides: {policy: {api_transport: tcp}}}\n"
    )
    with pytest.raises(ConfigError, match="no fall back to weaker settings"):
        load_config(path)
