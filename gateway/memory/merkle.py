"""RFC 6962 / RFC 9162 Merkle tree: tree hash, inclusion and consistency proofs, signed heads."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import FrameError
from gateway.memory.entry import public_bytes
from gateway.memory.wire import Reader

STH_CONTEXT = b"gateway/memory/sth/v1\x00"
STH_BYTES = 8 + 32 + 8 + 32 + 64
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_root(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH of leaf hashes ``leaves[lo:hi]``."""
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[lo]
    k = _split(n)
    return node_hash(subtree_root(leaves, lo, lo + k), subtree_root(leaves, lo + k, hi))


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes."""
    return subtree_root(leaves, 0, len(leaves))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 6962 section 2.1.1."""
    if not 0 <= index < len(leaves):
        raise ValueError("leaf index out of range")
    return _path(leaves, index, 0, len(leaves))


def _path(leaves: Sequence[bytes], m: int, lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(leaves, m, lo, lo + k), subtree_root(leaves, lo + k, hi)]
    return [*_path(leaves, m - k, lo + k, hi), subtree_root(leaves, lo, lo + k)]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: is leaf hash ``leaf`` at ``index`` in the tree ``root_hash``."""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 section 2.1.2 (empty when m is 0 or n)."""
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ValueError("old size out of range")
    if old_size in (0, n):
        return []
    return _subproof(leaves, old_size, 0, n, True)


def _subproof(leaves: Sequence[bytes], m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if complete else [subtree_root(leaves, lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves, m, lo, lo + k, complete), subtree_root(leaves, lo + k, hi)]
    return [*_subproof(leaves, m - k, lo + k, hi, False), subtree_root(leaves, lo, lo + k)]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: does the tree ``new_root`` extend the tree ``old_root``."""
    if old_size < 0 or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


@dataclass(frozen=True)
class SignedTreeHead:
    """A node's signed statement of its log: size, root hash and time."""

    size: int
    root: bytes
    timestamp_ms: int
    signer: bytes
    signature: bytes

    def signed_bytes(self) -> bytes:
        """The bytes covered by the signature."""
        return (
            STH_CONTEXT
            + struct.pack(">Q", self.size)
            + self.root
            + struct.pack(">Q", self.timestamp_ms)
        )

    def encode(self) -> bytes:
        """Fixed 144-byte wire form."""
        return (
            struct.pack(">Q", self.size)
            + self.root
            + struct.pack(">Q", self.timestamp_ms)
            + self.signer
            + self.signature
        )

    def verify(self) -> bool:
        """Whether the signature is the signer's."""
        try:
            Ed25519PublicKey.from_public_bytes(self.signer).verify(
                self.signature, self.signed_bytes()
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def sign_tree_head(
    key: Ed25519PrivateKey, size: int, root_hash: bytes, timestamp_ms: int
) -> SignedTreeHead:
    """Sign (size, root, time) with the node key."""
    unsigned = SignedTreeHead(size, root_hash, timestamp_ms, public_bytes(key.public_key()), b"")
    return SignedTreeHead(
        size, root_hash, timestamp_ms, unsigned.signer, key.sign(unsigned.signed_bytes())
    )


def decode_tree_head(r: Reader) -> SignedTreeHead:
    """Read a 144-byte STH (raises FrameError when short)."""
    size, root_hash, ts = r.u64(), r.take(32), r.u64()
    signer, signature = r.take(32), r.take(64)
    if size >= 1 << 63:
        raise FrameError("tree size out of range")
    return SignedTreeHead(size, root_hash, ts, signer, signature)
