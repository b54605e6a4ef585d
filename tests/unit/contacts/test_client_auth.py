"""Client authorization keys in tor's formats, their files, and a real tor reading them."""

from __future__ import annotations

import base64
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from gateway.contacts.client_auth import (
    ADD_ONION_FLAG,
    ClientAuthKey,
    add_onion_client_auth_arg,
    auth_file_path,
    auth_file_text,
    auth_private_file_text,
    authorized_clients_dir,
    b32_key,
    client_name,
    onion_client_auth_add_args,
    onion_client_auth_remove_args,
    parse_auth_file,
    parse_auth_private_file,
    parse_b32_key,
    remove_authorized_client,
    remove_client_auth_private,
    write_authorized_client,
    write_client_auth_private,
)
from gateway.errors import ContactError
from gateway.state.onion_key import OnionKey
from tests.unit.config.support import tor_binary

# RFC 7748, section 6.1 (Alice)
RFC_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
RFC_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")


def test_key_pair_and_base32_form() -> None:
    key = ClientAuthKey(RFC_PRIVATE)
    assert key.public == RFC_PUBLIC
    text = b32_key(key.public)
    assert re.fullmatch(r"[A-Z2-7]{52}", text)
    assert base64.b32decode(text + "====") == RFC_PUBLIC
    assert parse_b32_key(text) == RFC_PUBLIC
    assert "77076d" not in repr(key)
    assert ClientAuthKey.generate().private != ClientAuthKey.generate().private
    with pytest.raises(ContactError, match="52 base32"):
        parse_b32_key(text.lower())
    with pytest.raises(ContactError, match="32 bytes"):
        b32_key(b"short")


def test_file_contents_match_tors_formats() -> None:
    onion = OnionKey.generate().address
    key = ClientAuthKey(RFC_PRIVATE)
    auth = auth_file_text(key.public)
    assert auth == f"descriptor:x25519:{b32_key(RFC_PUBLIC)}\n"
    assert parse_auth_file(auth) == RFC_PUBLIC
    private = auth_private_file_text(onion + ".onion", key.private)
    assert private == f"{onion}:descriptor:x25519:{b32_key(RFC_PRIVATE)}\n"
    assert parse_auth_private_file(private) == (onion, RFC_PRIVATE)
    with pytest.raises(ContactError, match="descriptor:x25519"):
        parse_auth_file("descriptor:ed25519:" + b32_key(RFC_PUBLIC))
    with pytest.raises(ContactError, match="onion address"):
        auth_private_file_text("notanonion", key.private)


def test_files_are_private_and_removable(tmp_path: Path) -> None:
    onion = OnionKey.generate().address
    key = ClientAuthKey.generate()
    folder = authorized_clients_dir(tmp_path / "state" / "hs")
    path = write_authorized_client(folder, key.public)
    assert path == folder / f"{client_name(key.public)}.auth" == auth_file_path(folder, key.public)
    assert re.fullmatch(r"gw-[0-9a-f]{12}", client_name(key.public))
    for d in (tmp_path / "state", tmp_path / "state" / "hs", folder):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert parse_auth_file(path.read_text()) == key.public
    cad = tmp_path / "client_auth"
    priv = write_client_auth_private(cad, onion, key.private)
    assert priv.name == f"{onion}.auth_private"
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert remove_authorized_client(folder, key.public) is True
    assert remove_authorized_client(folder, key.public) is False
    assert remove_client_auth_private(cad, onion) is True
    assert not path.exists() and not priv.exists()
    assert [p.name for p in folder.iterdir()] == []  # no temp files left behind


def test_control_port_forms() -> None:
    onion = OnionKey.generate().address
    args = onion_client_auth_add_args(onion, RFC_PRIVATE, name="gw-bob", permanent=True)
    address, blob, name, flags = args.split(" ")
    assert address == onion
    assert blob.startswith("x25519:") and base64.b64decode(blob[7:]) == RFC_PRIVATE
    assert (name, flags) == ("ClientName=gw-bob", "Flags=Permanent")
    assert onion_client_auth_add_args(onion + ".onion", RFC_PRIVATE).count(" ") == 1
    assert onion_client_auth_remove_args(onion.upper() + ".onion") == onion
    assert add_onion_client_auth_arg(RFC_PUBLIC) == f"ClientAuthV3={b32_key(RFC_PUBLIC)}"
    with pytest.raises(ContactError, match="client name"):
        onion_client_auth_add_args(onion, RFC_PRIVATE, name="bad name")


def _tor_log_until(tor: str, torrc: Path, marker: str, timeout: float = 20.0) -> str:
    """Run tor offline until ``marker`` is logged; its log so far."""
    proc = subprocess.Popen(
        [tor, "-f", str(torrc)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if marker in line or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return "".join(lines)


def test_a_real_tor_loads_the_files(tmp_path: Path) -> None:
    tor = tor_binary()
    assert tor is not None
    service = OnionKey.generate()
    hs = tmp_path / "hs"
    service.write_hidden_service_dir(hs)
    key = ClientAuthKey.generate()
    name = write_authorized_client(authorized_clients_dir(hs), key.public).name
    cad = tmp_path / "cad"
    write_client_auth_private(cad, service.address, key.private)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    torrc = tmp_path / "torrc"
    torrc.write_text(
        f"DataDirectory {data}\nSocksPort 0\nDisableNetwork 1\nLog info stdout\n"
        f"ClientOnionAuthDir {cad}\nHiddenServiceDir {hs}\nHiddenServicePort 80 127.0.0.1:9\n"
    )
    log = _tor_log_until(tor, torrc, "Bootstrapped 0%")
    assert "Bootstrapped 0%" in log, log[-2000:]
    assert f"Loaded a client authorization key file {name}." in log
    assert f"Loaded a client authorization key file {service.address}.auth_private." in log
    assert "[warn] Client authorization" not in log


def test_a_real_tor_accepts_the_control_port_forms(tmp_path: Path) -> None:
    from stem.control import Controller

    tor = tor_binary()
    assert tor is not None
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    sock = tmp_path / "control"
    torrc = tmp_path / "torrc"
    torrc.write_text(
        f"DataDirectory {data}\nSocksPort 0\nDisableNetwork 1\nLog notice stdout\n"
        f"ControlSocket {sock}\n"
    )
    proc = subprocess.Popen(
        [tor, "-f", str(torrc)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        service = OnionKey.generate().address
        key = ClientAuthKey.generate()
        with Controller.from_socket_file(str(sock)) as ctl:
            ctl.authenticate()
            add = ctl.msg(
                "ONION_CLIENT_AUTH_ADD "
                + onion_client_auth_add_args(service, key.private, name="gw-t")
            )
            assert add.is_ok(), str(add)
            view = str(ctl.msg(f"ONION_CLIENT_AUTH_VIEW {service}"))
            assert base64.b64encode(key.private).decode() in view
            assert "ClientName=gw-t" in view
            gone = ctl.msg("ONION_CLIENT_AUTH_REMOVE " + onion_client_auth_remove_args(service))
            assert gone.is_ok(), str(gone)
            reply = ctl.msg(
                f"ADD_ONION NEW:ED25519-V3 Flags=DiscardPK,{ADD_ONION_FLAG} Port=80,127.0.0.1:9 "
                + add_onion_client_auth_arg(key.public)
            )
            assert reply.is_ok(), str(reply)
            assert "ServiceID=" in str(reply)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
