"""Merkle log: RFC 6962 vectors, proofs against brute force, tampering, signed heads."""

from __future__ import annotations

import hashlib

import pytest

from gateway.memory import merkle

from .helpers import key_from

# Reference data and roots of the certificate-transparency test suite (RFC 6962 trees).
CT_LEAVES = [
    b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70)),
]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PROOF_3_8 = [
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def _brute_root(leaves: list[bytes]) -> bytes:
    """Bottom-up RFC 6962 root: pair left to right, promote an odd last node."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        nxt = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def test_ct_reference_roots() -> None:
    leaves = [merkle.leaf_hash(d) for d in CT_LEAVES]
    assert merkle.root([]) == hashlib.sha256(b"").digest()
    for n in range(1, 9):
        assert merkle.root(leaves[:n]).hex() == CT_ROOTS[n - 1]
    assert [h.hex() for h in merkle.consistency_proof(leaves, 3)] == CT_PROOF_3_8


def test_root_matches_brute_force() -> None:
    for n in range(0, 70):
        leaves = _leaves(n)
        assert merkle.root(leaves) == _brute_root(leaves)


def test_every_inclusion_proof_verifies_and_tampering_fails() -> None:
    for n in range(1, 34):
        leaves = _leaves(n)
        root = merkle.root(leaves)
        for i in range(n):
            proof = merkle.inclusion_proof(leaves, i)
            assert merkle.verify_inclusion(leaves[i], i, n, proof, root)
            assert not merkle.verify_inclusion(leaves[(i + 1) % n], i, n, proof, root) or n == 1
            for k in range(len(proof)):
                bad = list(proof)
                bad[k] = bytes([bad[k][0] ^ 1]) + bad[k][1:]
                assert not merkle.verify_inclusion(leaves[i], i, n, bad, root)
            if proof:
                assert not merkle.verify_inclusion(leaves[i], i, n, proof[:-1], root)
                assert not merkle.verify_inclusion(leaves[i], i, n, [*proof, root], root)


def test_every_consistency_proof_verifies_and_tampering_fails() -> None:
    for n in range(1, 30):
        leaves = _leaves(n)
        new_root = merkle.root(leaves)
        for m in range(0, n + 1):
            old_root = merkle.root(leaves[:m])
            proof = merkle.consistency_proof(leaves, m)
            assert merkle.verify_consistency(m, n, old_root, new_root, proof)
            if 0 < m < n:
                assert not merkle.verify_consistency(m, n, new_root, new_root, proof)
                for k in range(len(proof)):
                    bad = list(proof)
                    bad[k] = bytes(32)
                    assert not merkle.verify_consistency(m, n, old_root, new_root, bad)


def test_rewritten_history_fails_consistency() -> None:
    leaves = _leaves(20)
    old_root = merkle.root(leaves[:11])
    rewritten = [*leaves[:5], merkle.leaf_hash(b"other"), *leaves[6:]]
    proof = merkle.consistency_proof(rewritten, 11)
    assert not merkle.verify_consistency(11, 20, old_root, merkle.root(rewritten), proof)


def test_signed_tree_head_sign_verify_and_tamper() -> None:
    sth = merkle.sign_tree_head(key_from(5), 7, merkle.root(_leaves(7)), 123)
    assert sth.verify()
    assert len(sth.encode()) == merkle.STH_BYTES
    for tampered in (
        merkle.SignedTreeHead(8, sth.root, 123, sth.signer, sth.signature),
        merkle.SignedTreeHead(7, bytes(32), 123, sth.signer, sth.signature),
        merkle.SignedTreeHead(7, sth.root, 124, sth.signer, sth.signature),
    ):
        assert not tampered.verify()


def test_proof_arguments_out_of_range() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(_leaves(3), 3)
    with pytest.raises(ValueError):
        merkle.consistency_proof(_leaves(3), 4)
    assert not merkle.verify_consistency(4, 3, bytes(32), bytes(32), [])
