"""Wycheproof X25519 vectors through the Noise DH function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import HandshakeError
from gateway.session.noise.dh import KeyPair, dh

WYCHEPROOF = Path(__file__).parents[2] / "vectors" / "wycheproof"
CASES = [
    dict(test)
    for group in json.loads((WYCHEPROOF / "x25519_test.json").read_text())["testGroups"]
    for test in group["tests"]
]


@pytest.mark.parametrize("case", CASES, ids=[str(c["tcId"]) for c in CASES])
def test_x25519(case: dict[str, Any]) -> None:
    pair = KeyPair.from_private(bytes.fromhex(case["private"]))
    public = bytes.fromhex(case["public"])
    if case["shared"] == "00" * 32:
        # low-order points: "acceptable" to refuse, and the Noise DH refuses them
        assert case["result"] == "acceptable"
        with pytest.raises(HandshakeError):
            dh(pair, public)
        return
    assert case["result"] in ("valid", "acceptable")
    assert dh(pair, public).hex() == case["shared"]


def test_wrong_public_key_length_is_a_handshake_error() -> None:
    pair = KeyPair.from_private(bytes(range(32)))
    with pytest.raises(HandshakeError):
        dh(pair, b"\x09" * 31)
