"""The root chain of the Double Ratchet (KDF_RK), with and without header keys.

::

    KDF_RK(rk, dh_out)    = HKDF-SHA256(salt=rk, ikm=dh_out, info=ROOT_INFO, 64 bytes)
                          -> rk' = out[0:32], ck = out[32:64]
    KDF_RK_HE(rk, dh_out) = HKDF-SHA256(salt=rk, ikm=dh_out, info=ROOT_INFO, 96 bytes)
                          -> rk' = out[0:32], ck = out[32:64], nhk = out[64:96]

``dh_out`` is the 32-byte X25519 output. Because the two lengths share one label,
the first 64 bytes of KDF_RK_HE equal KDF_RK (a property of HKDF-Expand); the two
modes never run on the same root key, since a session's mode is fixed at start.
"""

from __future__ import annotations

from gateway.session.kdf_chain import hkdf_sha256

#: HKDF info label of the root chain
ROOT_INFO = b"gateway/v1 double-ratchet root chain"


def kdf_rk(root_key: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    """Return ``(next_root_key, chain_key)``."""
    out = hkdf_sha256(root_key, dh_out, ROOT_INFO, 64)
    return out[:32], out[32:64]


def kdf_rk_he(root_key: bytes, dh_out: bytes) -> tuple[bytes, bytes, bytes]:
    """Return ``(next_root_key, chain_key, next_header_key)`` (header-encryption variant)."""
    out = hkdf_sha256(root_key, dh_out, ROOT_INFO, 96)
    return out[:32], out[32:64], out[64:96]
