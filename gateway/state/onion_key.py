"""The node's v3 onion service key, in tor's 64-byte expanded ed25519 form.

The same key gives the same address whether the service is published with
ADD_ONION (:meth:`OnionKey.key_blob`) or from a HiddenServiceDir
(:meth:`OnionKey.write_hidden_service_dir`). Address derivation follows
rend-spec-v3 ("Encoding onion addresses").
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp

from gateway.errors import KeyFileError, StateError
from gateway.state.keys import check_public, decode_key_file, encode_key_file
from gateway.state.paths import DIR_MODE, check_mode, read_private, write_private

ONION_VERSION = b"\x03"
_CHECKSUM_PREFIX = b".onion checksum"
_SECRET_HEADER = b"== ed25519v1-secret: type0 ==\x00\x00\x00"
_PUBLIC_HEADER = b"== ed25519v1-public: type0 ==\x00\x00\x00"
_KIND = "onion-ed25519-expanded"


def expand_seed(seed: bytes) -> bytes:
    """Tor's expanded secret key of a 32-byte ed25519 seed: SHA-512, then clamp the scalar."""
    if len(seed) != 32:
        raise KeyFileError(f"an ed25519 seed is 32 bytes, got {len(seed)}")
    digest = bytearray(hashlib.sha512(seed).digest())
    digest[0] &= 248
    digest[31] &= 127
    digest[31] |= 64
    return bytes(digest)


def onion_address(public_key: bytes) -> str:
    """The 56-character v3 onion address (no ".onion") of an ed25519 public key."""
    checksum = hashlib.sha3_256(_CHECKSUM_PREFIX + public_key + ONION_VERSION).digest()[:2]
    return base64.b32encode(public_key + checksum + ONION_VERSION).decode("ascii").lower()


@dataclass(frozen=True)
class OnionKey:
    """A v3 onion service key: 64 bytes, clamped scalar then the nonce-hash prefix."""

    expanded: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.expanded) != 64:
            raise KeyFileError(f"an expanded onion key is 64 bytes, got {len(self.expanded)}")
        scalar = self.expanded[:32]
        if scalar[0] & 7 or scalar[31] & 128 or not scalar[31] & 64:
            raise KeyFileError("the onion key's scalar is not clamped (not a tor ed25519 key)")

    @classmethod
    def generate(cls) -> OnionKey:
        return cls.from_seed(os.urandom(32))

    @classmethod
    def from_seed(cls, seed: bytes) -> OnionKey:
        return cls(expand_seed(seed))

    @property
    def public_key(self) -> bytes:
        """The 32-byte ed25519 public key: scalar times the base point."""
        return bytes(crypto_scalarmult_ed25519_base_noclamp(self.expanded[:32]))

    @property
    def address(self) -> str:
        """The 56-character onion address, lower case, without ".onion"."""
        return onion_address(self.public_key)

    def key_blob(self) -> str:
        """Base64 of the 64 bytes, for ADD_ONION ``ED25519-V3:<blob>``."""
        return base64.b64encode(self.expanded).decode("ascii")

    def save(self, path: Path) -> None:
        """Write the key file (gateway key format v1) atomically, mode 0600."""
        write_private(path, encode_key_file(_KIND, self.expanded, self.public_key))

    @classmethod
    def load(cls, path: Path) -> OnionKey:
        """Read a key file; malformed, tampered or too-open files raise KeyFileError."""
        expanded, public = decode_key_file(path, read_private(path), _KIND, 64, 32)
        key = cls(expanded)
        check_public(path, public, key.public_key)
        return key

    def write_hidden_service_dir(self, directory: Path) -> None:
        """Write tor's key files and ``hostname`` into ``directory`` (0700; files 0600)."""
        try:
            directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create {directory}: {exc.strerror}") from exc
        check_mode(directory)
        write_private(directory / "hs_ed25519_secret_key", _SECRET_HEADER + self.expanded)
        write_private(directory / "hs_ed25519_public_key", _PUBLIC_HEADER + self.public_key)
        write_private(directory / "hostname", f"{self.address}.onion\n".encode("ascii"))

    @classmethod
    def from_hidden_service_dir(cls, directory: Path) -> OnionKey:
        """Read tor's ``hs_ed25519_secret_key`` from ``directory``."""
        path = directory / "hs_ed25519_secret_key"
        data = read_private(path)
        if len(data) != 96 or not data.startswith(_SECRET_HEADER):
            raise KeyFileError(f"{path}: not a tor ed25519v1 secret key file")
        return cls(data[32:])
