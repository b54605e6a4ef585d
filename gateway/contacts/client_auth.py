"""v3 onion client authorization: x25519 keys in tor's file and control-port formats.

Formats (tor(1), CLIENT AUTHORIZATION; control-spec ADD_ONION, ONION_CLIENT_AUTH_ADD):

- service side, ``<HiddenServiceDir>/authorized_clients/<name>.auth``:
  ``descriptor:x25519:<base32 public key>``
- client side, ``<ClientOnionAuthDir>/<name>.auth_private``:
  ``<56-char onion address>:descriptor:x25519:<base32 private key>``
- control port: ``ADD_ONION ... Flags=V3Auth ClientAuthV3=<base32 public key>`` and
  ``ONION_CLIENT_AUTH_ADD <address> x25519:<base64 private key> [ClientName=N] [Flags=Permanent]``

Base32 is RFC 4648, upper case, without padding (52 characters for 32 bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.contacts.onion import normalize_onion_address
from gateway.errors import ContactError, StateError
from gateway.state.paths import DIR_MODE, write_private

KEY_LEN = 32
AUTH_SUFFIX = ".auth"
AUTH_PRIVATE_SUFFIX = ".auth_private"
_B32_KEY = re.compile(r"[A-Z2-7]{52}")
_CLIENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,16}")


@dataclass(frozen=True)
class ClientAuthKey:
    """An x25519 client-authorization key pair (private half kept out of repr)."""

    private: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.private) != KEY_LEN:
            raise ContactError(f"a client-auth private key is {KEY_LEN} bytes")

    @classmethod
    def generate(cls) -> ClientAuthKey:
        return cls(X25519PrivateKey.generate().private_bytes_raw())

    @property
    def public(self) -> bytes:
        key = X25519PrivateKey.from_private_bytes(self.private)
        return key.public_key().public_bytes_raw()


def b32_key(key: bytes) -> str:
    """``key`` (32 bytes) in tor's base32: upper case, no padding."""
    if len(key) != KEY_LEN:
        raise ContactError(f"a client-auth key is {KEY_LEN} bytes, got {len(key)}")
    return base64.b32encode(key).decode("ascii").rstrip("=")


def parse_b32_key(text: str) -> bytes:
    """The 32 bytes of a key in tor's base32 form."""
    if not _B32_KEY.fullmatch(text):
        raise ContactError(f"expected 52 base32 characters (A-Z, 2-7), got {text[:60]!r}")
    try:
        return base64.b32decode(text + "====")
    except binascii.Error:
        raise ContactError(f"not a base32 key: {text[:60]!r}") from None


def client_name(public_key: bytes) -> str:
    """A stable file and client name for an authorized client key: ``gw-`` + 12 hex digits."""
    return "gw-" + hashlib.sha256(public_key).hexdigest()[:12]


# --- file contents ---------------------------------------------------------------


def auth_file_text(public_key: bytes) -> str:
    """Content of the service-side ``<name>.auth`` file."""
    return f"descriptor:x25519:{b32_key(public_key)}\n"


def auth_private_file_text(onion_address: str, private_key: bytes) -> str:
    """Content of the client-side ``<name>.auth_private`` file."""
    address = normalize_onion_address(onion_address)
    return f"{address}:descriptor:x25519:{b32_key(private_key)}\n"


def parse_auth_file(text: str) -> bytes:
    """The public key of an ``.auth`` file."""
    parts = text.strip().split(":")
    if len(parts) != 3 or parts[:2] != ["descriptor", "x25519"]:
        raise ContactError("expected 'descriptor:x25519:<base32 public key>'")
    return parse_b32_key(parts[2])


def parse_auth_private_file(text: str) -> tuple[str, bytes]:
    """The (onion address, private key) of an ``.auth_private`` file."""
    parts = text.strip().split(":")
    if len(parts) != 4 or parts[1:3] != ["descriptor", "x25519"]:
        raise ContactError("expected '<onion address>:descriptor:x25519:<base32 private key>'")
    return normalize_onion_address(parts[0]), parse_b32_key(parts[3])


# --- files in a directory --------------------------------------------------------


def authorized_clients_dir(hidden_service_dir: Path) -> Path:
    """tor's ``authorized_clients`` folder of a HiddenServiceDir."""
    return hidden_service_dir / "authorized_clients"


def auth_file_path(directory: Path, public_key: bytes) -> Path:
    return directory / f"{client_name(public_key)}{AUTH_SUFFIX}"


def auth_private_file_path(directory: Path, onion_address: str) -> Path:
    return directory / f"{normalize_onion_address(onion_address)}{AUTH_PRIVATE_SUFFIX}"


def write_authorized_client(directory: Path, public_key: bytes) -> Path:
    """Write ``<directory>/<client_name>.auth`` (0600; the folder 0700)."""
    _make_dir(directory)
    path = auth_file_path(directory, public_key)
    write_private(path, auth_file_text(public_key).encode("ascii"))
    return path


def remove_authorized_client(directory: Path, public_key: bytes) -> bool:
    """Delete the ``.auth`` file of ``public_key``; whether one was there."""
    return _remove(auth_file_path(directory, public_key))


def write_client_auth_private(directory: Path, onion_address: str, private_key: bytes) -> Path:
    """Write ``<directory>/<address>.auth_private`` (0600; the folder 0700)."""
    _make_dir(directory)
    path = auth_private_file_path(directory, onion_address)
    write_private(path, auth_private_file_text(onion_address, private_key).encode("ascii"))
    return path


def remove_client_auth_private(directory: Path, onion_address: str) -> bool:
    """Delete the ``.auth_private`` file for ``onion_address``; whether one was there."""
    return _remove(auth_private_file_path(directory, onion_address))


def _make_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700."""
    missing = []
    folder = directory
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    try:
        for path in reversed(missing):
            path.mkdir(mode=DIR_MODE)
            path.chmod(DIR_MODE)
    except OSError as exc:
        raise StateError(f"cannot create {directory}: {exc.strerror}") from exc


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StateError(f"cannot remove {path}: {exc.strerror}") from exc
    return True


# --- control port ----------------------------------------------------------------


#: the ADD_ONION flag that turns on v3 client authorization (with ClientAuthV3= arguments)
ADD_ONION_FLAG = "V3Auth"


def add_onion_client_auth_arg(public_key: bytes) -> str:
    """The ``ClientAuthV3=`` argument of ADD_ONION for one authorized client.

    ADD_ONION also needs :data:`ADD_ONION_FLAG` in its ``Flags=`` list.
    """
    return f"ClientAuthV3={b32_key(public_key)}"


def onion_client_auth_add_args(
    onion_address: str, private_key: bytes, *, name: str | None = None, permanent: bool = False
) -> str:
    """The arguments of ONION_CLIENT_AUTH_ADD (after the command word)."""
    if len(private_key) != KEY_LEN:
        raise ContactError(f"a client-auth private key is {KEY_LEN} bytes")
    blob = base64.b64encode(private_key).decode("ascii")
    args = f"{normalize_onion_address(onion_address)} x25519:{blob}"
    if name is not None:
        if not _CLIENT_NAME.fullmatch(name):
            raise ContactError(f"client name {name!r}: expected 1-16 of A-Z a-z 0-9 _ -")
        args += f" ClientName={name}"
    if permanent:
        args += " Flags=Permanent"
    return args


def onion_client_auth_remove_args(onion_address: str) -> str:
    """The argument of ONION_CLIENT_AUTH_REMOVE."""
    return normalize_onion_address(onion_address)
