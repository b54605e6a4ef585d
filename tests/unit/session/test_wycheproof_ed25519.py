"""Wycheproof Ed25519 vectors through the handshake's identity-signature check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import HandshakeError
from gateway.session.handshake import verify_signature

WYCHEPROOF = Path(__file__).parents[2] / "vectors" / "wycheproof"
CASES = [
    (group["publicKey"]["pk"], dict(test))
    for group in json.loads((WYCHEPROOF / "ed25519_test.json").read_text())["testGroups"]
    for test in group["tests"]
]


@pytest.mark.parametrize(("pk", "case"), CASES, ids=[str(c["tcId"]) for _, c in CASES])
def test_ed25519_verify(pk: str, case: dict[str, Any]) -> None:
    public, msg, sig = bytes.fromhex(pk), bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
    if case["result"] == "valid":
        Ed25519PublicKey.from_public_bytes(public).verify(sig, msg)
        verify_signature(public, sig, msg)
    else:
        with pytest.raises((InvalidSignature, ValueError)):
            Ed25519PublicKey.from_public_bytes(public).verify(sig, msg)
        with pytest.raises(HandshakeError):
            verify_signature(public, sig, msg)
