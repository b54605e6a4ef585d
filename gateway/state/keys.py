"""The node's long-term keys and its local API token.

Key file format (version 1), UTF-8 text, three lines::

    gateway-key v1 <kind>
    secret <base64 of the secret key bytes>
    public <base64 of the public key bytes>

``kind`` is ``ed25519-identity`` (32-byte seed), ``x25519-static`` (32-byte
private key) or ``onion-ed25519-expanded`` (tor's 64-byte expanded key, see
:mod:`gateway.state.onion_key`). The public line is checked against the public
key derived from the secret on load, so a changed byte in either line is
refused. Files are written atomically with mode 0600 and refused when group or
others can read them.

``api.token`` holds one line: a random 32-byte URL-safe base64 token.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.errors import KeyFileError
from gateway.state.paths import StatePaths, read_private, write_private

KEY_FILE_VERSION = "v1"
_MAGIC = "gateway-key"


def encode_key_file(kind: str, secret: bytes, public: bytes) -> bytes:
    """The text of a version-1 key file."""
    b64 = base64.b64encode
    return (
        f"{_MAGIC} {KEY_FILE_VERSION} {kind}\n"
        f"secret {b64(secret).decode()}\n"
        f"public {b64(public).decode()}\n"
    ).encode()


def decode_key_file(
    path: object, data: bytes, kind: str, secret_len: int, public_len: int
) -> tuple[bytes, bytes]:
    """The (secret, public) bytes of a version-1 key file of ``kind``."""
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise KeyFileError(f"{path}: not a gateway key file (not UTF-8 text)") from None
    header = f"{_MAGIC} {KEY_FILE_VERSION} {kind}"
    if not lines or lines[0] != header:
        got = lines[0][:60] if lines else ""
        raise KeyFileError(f"{path}: expected header {header!r}, got {got!r}")
    if len(lines) != 3:
        raise KeyFileError(f"{path}: expected 3 lines, got {len(lines)}")
    secret = _field(path, lines[1], "secret", secret_len)
    public = _field(path, lines[2], "public", public_len)
    return secret, public


def _field(path: object, line: str, name: str, length: int) -> bytes:
    label, _, value = line.partition(" ")
    if label != name:
        raise KeyFileError(f"{path}: expected a '{name}' line, got {label!r}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{path}: the {name} line is not valid base64") from None
    if len(raw) != length:
        raise KeyFileError(f"{path}: the {name} key is {len(raw)} bytes, expected {length}")
    return raw


def check_public(path: object, stored: bytes, derived: bytes) -> None:
    """Refuse a key file whose public line does not match its secret (tampered or corrupt)."""
    if not secrets.compare_digest(stored, derived):
        raise KeyFileError(f"{path}: the public key does not match the secret key (tampered?)")


@dataclass(frozen=True)
class IdentityKeys:
    """A node's Ed25519 signing key and X25519 static (Diffie-Hellman) key."""

    signing: Ed25519PrivateKey
    static: X25519PrivateKey

    @classmethod
    def generate(cls) -> IdentityKeys:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    @property
    def signing_public(self) -> bytes:
        return self.signing.public_key().public_bytes_raw()

    @property
    def static_public(self) -> bytes:
        return self.static.public_key().public_bytes_raw()

    def save(self, paths: StatePaths) -> None:
        """Write both key files atomically, mode 0600."""
        seed = self.signing.private_bytes_raw()
        write_private(paths.identity_key, encode_key_file(_ID, seed, self.signing_public))
        static = self.static.private_bytes_raw()
        write_private(paths.static_key, encode_key_file(_STATIC, static, self.static_public))

    @classmethod
    def load(cls, paths: StatePaths) -> IdentityKeys:
        """Read both key files; malformed, tampered or too-open files raise KeyFileError."""
        path = paths.identity_key
        seed, public = decode_key_file(path, read_private(path), _ID, 32, 32)
        signing = Ed25519PrivateKey.from_private_bytes(seed)
        keys_path = paths.static_key
        raw, static_pub = decode_key_file(keys_path, read_private(keys_path), _STATIC, 32, 32)
        static = X25519PrivateKey.from_private_bytes(raw)
        keys = cls(signing, static)
        check_public(path, public, keys.signing_public)
        check_public(keys_path, static_pub, keys.static_public)
        return keys


_ID = "ed25519-identity"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_STATIC = "x25519-static"


def generate_api_token() -> str:
    """A random 32-byte URL-safe token for the local API."""
    return secrets.token_urlsafe(32)


def save_api_token(paths: StatePaths, token: str) -> None:
    write_private(paths.api_token, f"{token}\n".encode())


def load_api_token(paths: StatePaths) -> str:
    """The API token; refused when malformed or too open."""
    data = read_private(paths.api_token)
    token = data.decode("ascii", errors="replace").strip()
    if not _TOKEN.fullmatch(token):
        raise KeyFileError(f"{paths.api_token}: expected a 32-byte URL-safe base64 token")
    return token
