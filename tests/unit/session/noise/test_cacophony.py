"""Every vector of cacophony_25519_ChaChaPoly.json, handshake and transport, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.session.noise import CipherState, HandshakeState, KeyPair, NoiseProtocol

VECTORS = Path(__file__).parents[3] / "vectors" / "noise" / "cacophony_25519_ChaChaPoly.json"
ALL = json.loads(VECTORS.read_text())["vectors"]


def _key(vector: dict[str, Any], name: str) -> KeyPair | None:
    value = vector.get(name)
    return KeyPair.from_private(bytes.fromhex(value)) if value else None


def _pub(vector: dict[str, Any], name: str) -> bytes | None:
    value = vector.get(name)
    return bytes.fromhex(value) if value else None


def _side(vector: dict[str, Any], prefix: str, initiator: bool) -> HandshakeState:
    return HandshakeState(
        vector["protocol_name"],
        initiator,
        bytes.fromhex(vector[f"{prefix}_prologue"]),
        s=_key(vector, f"{prefix}_static"),
        e=_key(vector, f"{prefix}_ephemeral"),
        rs=_pub(vector, f"{prefix}_remote_static"),
        psks=[bytes.fromhex(p) for p in vector.get(f"{prefix}_psks", [])],
    )


def test_all_patterns_of_the_file_are_covered() -> None:
    names = {v["protocol_name"] for v in ALL}
    assert len(ALL) == 118
    for name in names:
        NoiseProtocol.from_name(name)  # every pattern in the file parses


@pytest.mark.parametrize("vector", ALL, ids=[v["protocol_name"] for v in ALL])
def test_vector(vector: dict[str, Any]) -> None:
    init = _side(vector, "init", True)
    resp = _side(vector, "resp", False)
    pattern = init.protocol.pattern
    messages = vector["messages"]
    hs_count = len(pattern.messages)
    for index, message in enumerate(messages[:hs_count]):
        writer, reader = (init, resp) if pattern.messages[index][0] else (resp, init)
        payload = bytes.fromhex(message["payload"])
        ciphertext = writer.write_message(payload)
        assert ciphertext.hex() == message["ciphertext"]
        assert reader.read_message(ciphertext) == payload
    assert init.finished and resp.finished
    assert init.handshake_hash.hex() == vector["handshake_hash"]
    assert resp.handshake_hash == init.handshake_hash
    i_send, i_recv = init.split()
    r_recv, r_send = resp.split()
    for index, message in enumerate(messages[hs_count:], start=hs_count):
        from_initiator = pattern.one_way or index % 2 == 0
        send, recv = (i_send, r_recv) if from_initiator else (r_send, i_recv)
        _transport(send, recv, message)


def _transport(send: CipherState, recv: CipherState, message: dict[str, str]) -> None:
    payload = bytes.fromhex(message["payload"])
    ciphertext = send.encrypt_with_ad(b"", payload)
    assert ciphertext.hex() == message["ciphertext"]
    assert recv.decrypt_with_ad(b"", ciphertext) == payload
