"""The v3 onion key: expansion, address derivation, tor's key file formats, and tor itself."""

from __future__ import annotations

import base64
import hashlib
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import KeyFileError
from gateway.state.onion_key import OnionKey, expand_seed, onion_address
from tests.unit.config.support import tor_binary

# RFC 8032 test 1 and the address tor's own tests derive from its public key
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
TOR_TEST_ADDRESS = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid"


def test_known_vector() -> None:
    key = OnionKey.from_seed(RFC8032_SEED)
    assert key.public_key == RFC8032_PUBLIC
    assert key.address == TOR_TEST_ADDRESS
    assert onion_address(RFC8032_PUBLIC) == TOR_TEST_ADDRESS


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_public_key_matches_cryptography(seed: bytes) -> None:
    key = OnionKey.from_seed(seed)
    expected = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert key.public_key == expected


def test_address_structure() -> None:
    key = OnionKey.generate()
    addr = key.address
    assert len(addr) == 56 and addr == addr.lower() and not addr.endswith(".onion")
    raw = base64.b32decode(addr.upper())
    assert raw[:32] == key.public_key
    assert raw[34:] == b"\x03"
    checksum = hashlib.sha3_256(b".onion checksum" + key.public_key + b"\x03").digest()[:2]
    assert raw[32:34] == checksum


def test_expansion_is_sha512_clamped() -> None:
    expanded = expand_seed(RFC8032_SEED)
    digest = hashlib.sha512(RFC8032_SEED).digest()
    assert expanded[32:] == digest[32:]
    assert expanded[0] == digest[0] & 248
    assert expanded[31] == (digest[31] & 127) | 64
    with pytest.raises(KeyFileError):
        expand_seed(b"short")


def test_unclamped_or_short_keys_are_refused() -> None:
    with pytest.raises(KeyFileError, match="64 bytes"):
        OnionKey(b"\x00" * 63)
    with pytest.raises(KeyFileError, match="clamped"):
        OnionKey(b"\x01" + b"\x00" * 63)


def test_key_blob_is_base64_of_the_expanded_key() -> None:
    key = OnionKey.generate()
    assert base64.b64decode(key.key_blob()) == key.expanded
    assert len(key.key_blob()) == 88


def test_save_load_round_trip_and_tamper(tmp_path: Path) -> None:
    key = OnionKey.generate()
    path = tmp_path / "onion.key"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert OnionKey.load(path).address == key.address
    header, secret, _public = path.read_text().splitlines()
    assert header == "gateway-key v1 onion-ed25519-expanded"
    other = OnionKey.generate()
    path.write_text(f"{header}\n{secret}\npublic {base64.b64encode(other.public_key).decode()}\n")
    with pytest.raises(KeyFileError, match="does not match"):
        OnionKey.load(path)


def test_hidden_service_dir_format(tmp_path: Path) -> None:
    key = OnionKey.from_seed(RFC8032_SEED)
    hs = tmp_path / "hs"
    key.write_hidden_service_dir(hs)
    assert stat.S_IMODE(hs.stat().st_mode) == 0o700
    secret = (hs / "hs_ed25519_secret_key").read_bytes()
    public = (hs / "hs_ed25519_public_key").read_bytes()
    assert secret == b"== ed25519v1-secret: type0 ==\x00\x00\x00" + key.expanded
    assert public == b"== ed25519v1-public: type0 ==\x00\x00\x00" + RFC8032_PUBLIC
    assert (hs / "hostname").read_text() == f"{TOR_TEST_ADDRESS}.onion\n"
    for name in ("hs_ed25519_secret_key", "hs_ed25519_public_key", "hostname"):
        assert stat.S_IMODE((hs / name).stat().st_mode) == 0o600
    assert OnionKey.from_hidden_service_dir(hs).expanded == key.expanded


def test_bad_hidden_service_secret_file(tmp_path: Path) -> None:
    (tmp_path / "hs_ed25519_secret_key").write_bytes(b"x" * 96)
    (tmp_path / "hs_ed25519_secret_key").chmod(0o600)
    with pytest.raises(KeyFileError, match="ed25519v1"):
        OnionKey.from_hidden_service_dir(tmp_path)


def test_tor_derives_the_same_address_from_the_hidden_service_dir(tmp_path: Path) -> None:
    tor = tor_binary()
    assert tor is not None
    key = OnionKey.generate()
    hs = tmp_path / "hs"
    key.write_hidden_service_dir(hs)
    (hs / "hostname").unlink()  # tor writes it again from the key it loads
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    torrc = tmp_path / "torrc"
    torrc.write_text(
        f"DataDirectory {data}\nSocksPort 0\nDisableNetwork 1\nLog notice file {data}/log\n"
        f"HiddenServiceDir {hs}\nHiddenServicePort 80 127.0.0.1:9\n"
    )
    proc = subprocess.Popen(
        [tor, "-f", str(torrc)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 8
        while not (hs / "hostname").exists() and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert (hs / "hostname").read_text().strip() == f"{key.address}.onion"
    assert (hs / "hs_ed25519_secret_key").read_bytes()[32:] == key.expanded
