"""tor.bridges, tor.transports and tor.require_bridges: parsing, errors, torrc, preflight."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config.bridges import DEFAULT_TRANSPORTS, BridgeLine, parse_bridge
from gateway.config.loader import load_config
from gateway.config.preflight import preflight
from gateway.config.torrc import TorrcContext, render_torrc
from gateway.errors import ConfigError
from tests.unit.config.support import tor_binary, tor_verify, write_config

FP = "EF4060DCCF6ED4F6EFE2A63C6DFC9586AFC4A35B"
CERT = "HgffYwIwQlA0BBOmU8TP+gbc1YPv1iOtyd1wGV126FlknCGP8TuWoJrYosgcEhtE3KZsLA"
OBFS4 = f"obfs4 192.0.2.1:443 {FP} cert={CERT} iat-mode=0"
SNOWFLAKE = (
    f"snowflake 192.0.2.3:80 {FP} fingerprint={FP} url=https://snowflake.example/ "
    "ice=stun:stun.example:3478 utls-imitate=hellorandomizedalpn"
)
WEBTUNNEL = f"webtunnel [2001:db8::1]:443 {FP} url=https://example.com/secret-path ver=0.0.1"


def parse(line: str) -> BridgeLine:
    return parse_bridge(line, DEFAULT_TRANSPORTS)


def test_lines_of_every_kind() -> None:
    obfs4 = parse(OBFS4)
    assert (obfs4.transport, obfs4.address, obfs4.fingerprint) == ("obfs4", "192.0.2.1:443", FP)
    assert obfs4.args == (("cert", CERT), ("iat-mode", "0"))
    assert obfs4.torrc() == f"Bridge {OBFS4}"
    assert parse("Bridge " + OBFS4) == obfs4  # pasted with tor's keyword
    assert parse(SNOWFLAKE).transport == "snowflake"
    assert parse(WEBTUNNEL).address == "[2001:db8::1]:443"
    plain = parse(f"192.0.2.7:9001 {FP.lower()}")
    assert (plain.transport, plain.fingerprint, plain.torrc()) == (
        "", FP, f"Bridge 192.0.2.7:9001 {FP}"
    )
    assert parse("192.0.2.7:9001").fingerprint is None


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("", "empty"),
        (f"obfs5 192.0.2.1:443 {FP}", "unknown transport 'obfs5'"),
        ("obfs4", "address after the transport is missing"),
        (f"obfs4 example.com:443 {FP} cert={CERT} iat-mode=0", "not an IPv4 address"),
        (f"obfs4 192.0.2.1:0 {FP} cert={CERT} iat-mode=0", "port '0'"),
        (f"obfs4 192.0.2.1:70000 {FP} cert={CERT} iat-mode=0", "port '70000'"),
        (f"obfs4 2001:db8::1:443 {FP} cert={CERT} iat-mode=0", "written in brackets"),
        (f"obfs4 192.0.2.1:443 {FP} iat-mode=0", "needs cert="),
        (f"obfs4 192.0.2.1:443 {FP} cert=abc iat-mode=0", "not an obfs4 certificate"),
        (f"obfs4 192.0.2.1:443 {FP} cert={CERT} iat-mode=7", "iat-mode=7"),
        (f"obfs4 192.0.2.1:443 {FP[:-1]} cert={CERT} iat-mode=0", "not a fingerprint"),
        (f"webtunnel [2001:db8::1]:443 {FP} url=http://example.com/", "https://"),
        (f"snowflake 192.0.2.3:80 {FP}", "needs url="),
        (f"192.0.2.7:9001 {FP} cert={CERT}", "plain bridge"),
    ],
)
def test_bad_lines_say_what_is_wrong(line: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        parse(line)


def cfg_text(tor: str, level: str = "standard") -> str:
    return f"node: {{name: n, state_dir: st}}\nsecurity: {{level: {level}}}\ntor:\n{tor}"


def test_a_bad_line_in_the_file_names_file_key_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        tmp_path, cfg_text(f"  bridges:\n    - '{OBFS4}'\n    - 'obfs4 192.0.2.9:443 {FP}'\n")
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key_path == "tor.bridges[1]"
    assert "needs cert=, iat-mode=" in str(caught.value) and str(path) in str(caught.value)
    assert main(["--config", str(path), "config", "show"]) == 2
    assert "tor.bridges[1]" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("tor", "key"),
    [
        ("  bridges: 'obfs4 192.0.2.1:443'\n", "tor.bridges"),
        ("  bridges: [42]\n", "tor.bridges[0]"),
        ("  require_bridges: true\n", "tor.bridges"),
        ("  require_bridges: yes-please\n", "tor.require_bridges"),
        ("  transports: {obfs4: ''}\n", "tor.transports.obfs4"),
        ("  transports: {'Bad-Name': /bin/x}\n", "tor.transports.Bad-Name"),
        (
            f"  mode: attach\n  control: {{port: 9051}}\n  socks_port: 9050\n"
            f"  bridges: ['{OBFS4}']\n",
            "tor.bridges",
        ),
    ],
)
def test_bad_bridge_settings(tmp_path: Path, tor: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, cfg_text(tor)))
    assert caught.value.key_path == key
    assert caught.value.exit_status == 2


def test_paranoid_may_require_bridges(tmp_path: Path) -> None:
    text = cfg_text(f"  require_bridges: true\n  bridges: ['{OBFS4}']\n", "paranoid")
    cfg = load_config(write_config(tmp_path, text))
    assert cfg.tor.require_bridges and len(cfg.tor.bridges) == 1
    # not a default: a paranoid node without bridges loads
    assert load_config(write_config(tmp_path, cfg_text("  {}\n", "paranoid"))).tor.bridges == ()


def render(tmp_path: Path, tor: str) -> tuple[Path, list[str]]:
    cfg = load_config(write_config(tmp_path, cfg_text(tor)))
    state = cfg.node.state_dir
    ctx = TorrcContext(state / "tor", state / "tor" / "control.sock", 39123)
    text = render_torrc(cfg, ctx)
    path = tmp_path / "torrc"
    path.write_text(text)
    return path, text.splitlines()


def test_torrc_uses_the_bridges_and_their_transports(tmp_path: Path) -> None:
    tor = f"  transports: {{obfs4: /bin/true}}\n  bridges: ['{OBFS4}', '192.0.2.7:9001']\n"
    path, lines = render(tmp_path, tor)
    assert "UseBridges 1" in lines
    assert "ClientTransportPlugin obfs4 exec /bin/true" in lines
    assert f"Bridge {OBFS4}" in lines and "Bridge 192.0.2.7:9001" in lines
    assert not [ln for ln in lines if "snowflake" in ln]  # only the transports in use
    if tor_binary() is not None:  # tor itself accepts the file
        done = tor_verify(path)
        assert done.returncode == 0, done.stdout[-2000:]


def test_no_bridges_no_bridge_lines(tmp_path: Path) -> None:
    _, lines = render(tmp_path, "  {}\n")
    assert not [ln for ln in lines if ln.startswith(("UseBridges", "Bridge", "ClientTransport"))]


def test_a_missing_transport_binary_is_refused_at_start(tmp_path: Path) -> None:
    tor = f"  transports: {{obfs4: no-such-obfs4proxy}}\n  bridges: ['{OBFS4}']\n"
    cfg = load_config(write_config(tmp_path, cfg_text(tor)))
    with pytest.raises(ConfigError) as caught:
        preflight(cfg)
    assert caught.value.key_path == "tor.transports.obfs4"
    assert "no-such-obfs4proxy" in str(caught.value)
