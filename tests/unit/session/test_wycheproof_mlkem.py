"""Wycheproof ML-KEM-768 vectors: key generation from seeds, decapsulation, key checks.

``cryptography`` takes no randomness for encapsulation, so the encapsulation
vectors check what can be checked through it: every invalid encapsulation key
is refused and every valid one is accepted and yields a ciphertext of the
right size whose secret the recipient can recover (round trip).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import HandshakeError, SessionStateError
from gateway.session import pq

WYCHEPROOF = Path(__file__).parents[2] / "vectors" / "wycheproof"


def _cases(name: str) -> list[dict[str, Any]]:
    data = json.loads((WYCHEPROOF / name).read_text())
    return [dict(test) for group in data["testGroups"] for test in group["tests"]]


DECAPS = _cases("mlkem_768_test.json")
ENCAPS = _cases("mlkem_768_encaps_test.json")


@pytest.mark.parametrize("case", DECAPS, ids=[str(c["tcId"]) for c in DECAPS])
def test_keygen_and_decapsulation(case: dict[str, Any]) -> None:
    seed, ciphertext = bytes.fromhex(case["seed"]), bytes.fromhex(case["c"])
    if len(seed) != pq.SEED_LEN:
        assert case["result"] == "invalid"
        with pytest.raises(SessionStateError):
            pq.KemKeyPair.from_seed(seed)
        return
    pair = pq.KemKeyPair.from_seed(seed)
    assert pair.encapsulation_key.hex() == case["ek"]
    if case["result"] == "valid":
        assert pair.decapsulate(ciphertext).hex() == case["K"]
    else:
        with pytest.raises(HandshakeError):
            pair.decapsulate(ciphertext)


@pytest.mark.parametrize("case", ENCAPS, ids=[str(c["tcId"]) for c in ENCAPS])
def test_encapsulation_key_checks(case: dict[str, Any]) -> None:
    key = bytes.fromhex(case["ek"])
    if case["result"] == "invalid":
        with pytest.raises(HandshakeError):
            pq.encapsulate(key)
        return
    secret, ciphertext = pq.encapsulate(key)
    assert len(secret) == pq.SHARED_SECRET_LEN
    assert len(ciphertext) == pq.CIPHERTEXT_LEN == len(bytes.fromhex(case["c"]))


def test_encapsulation_round_trip() -> None:
    pair = pq.generate_kem_keypair()
    secret, ciphertext = pq.encapsulate(pair.encapsulation_key)
    assert pair.decapsulate(ciphertext) == secret
