"""v3 onion addresses <-> ed25519 public keys (rend-spec-v3, "Encoding onion addresses")."""

from __future__ import annotations

import base64
import binascii
import re

from gateway.errors import ContactError
from gateway.state.onion_key import onion_address

__all__ = ["normalize_onion_address", "onion_address", "onion_public_key"]

_ADDRESS = re.compile(r"[a-z2-7]{55}d")


def normalize_onion_address(text: str) -> str:
    """The 56-character address (lower case, no ``.onion``) after checking its checksum."""
    onion_public_key(text)
    return text.strip().lower().removesuffix(".onion")


def onion_public_key(text: str) -> bytes:
    """The 32-byte ed25519 public key of a v3 onion address; ContactError if it is not one."""
    name = text.strip().lower().removesuffix(".onion")
    if not _ADDRESS.fullmatch(name):
        raise ContactError(f"not a v3 onion address: {text[:70]!r}")
    try:
        raw = base64.b32decode(name.upper())
    except binascii.Error:
        raise ContactError(f"not a v3 onion address: {text[:70]!r}") from None
    public = raw[:32]
    if onion_address(public) != name:
        raise ContactError(f"onion address {name} has a wrong checksum (mistyped?)")
    return public
