"""Wycheproof HKDF-SHA256 and HMAC-SHA256 vectors.

HKDF goes through the session's ``hkdf_sha256`` (root derivation of the
handshake and the ratchet KDFs); HMAC through the Noise SHA256 HMAC-HASH.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.session.kdf_chain import hkdf_sha256
from gateway.session.noise.hash import SHA256

WYCHEPROOF = Path(__file__).parents[2] / "vectors" / "wycheproof"


def _cases(name: str) -> list[dict[str, Any]]:
    data = json.loads((WYCHEPROOF / name).read_text())
    return [dict(test) for group in data["testGroups"] for test in group["tests"]]


HKDF = _cases("hkdf_sha256_test.json")
HMAC = _cases("hmac_sha256_test.json")


@pytest.mark.parametrize("case", HKDF, ids=[str(c["tcId"]) for c in HKDF])
def test_hkdf_sha256(case: dict[str, Any]) -> None:
    ikm, salt, info = (bytes.fromhex(case[k]) for k in ("ikm", "salt", "info"))
    if case["result"] == "invalid":
        with pytest.raises(ValueError):
            hkdf_sha256(salt, ikm, info, case["size"])
        return
    assert hkdf_sha256(salt, ikm, info, case["size"]).hex() == case["okm"]


@pytest.mark.parametrize("case", HMAC, ids=[str(c["tcId"]) for c in HMAC])
def test_hmac_sha256(case: dict[str, Any]) -> None:
    key, msg, tag = (bytes.fromhex(case[k]) for k in ("key", "msg", "tag"))
    computed = SHA256.hmac_hash(key, msg)[: len(tag)]
    assert hmac.compare_digest(computed, tag) == (case["result"] == "valid")
