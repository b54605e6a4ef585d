"""Wire encoding of convergence messages: canonical JSON, signed with Ed25519.

A message on the wire is one canonical JSON object (sorted keys, no spaces,
UTF-8, no floats)::

    {"body": {...}, "kind": "commit", "sig": "<hex>", "signer": "<hex>", "v": 1}

The signature covers ``DOMAIN`` followed by the canonical encoding of the same
object without ``"sig"``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.errors import ConvergeMessageError, VersionError

VERSION = 1
DOMAIN = b"gateway/converge/v1\x00"
#: no convergence message may be larger than this
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
KEY_BYTES = 32
SIG_BYTES = 64

Body = dict[str, Any]


class Kind(enum.Enum):
    """The message kinds, in protocol order."""

    ROUND = "round"
    COMMIT = "commit"
    ABSTAIN = "abstain"
    COMMITS = "commits"
    REVEAL = "reveal"
    REVEALS = "reveals"
    RANKING = "ranking"
    RANKINGS = "rankings"
    SYNTHESIS = "synthesis"
    FINAL = "final"


@dataclass(frozen=True)
class Signed:
    """A decoded, signature-checked message; ``raw`` is its exact wire encoding."""

    kind: Kind
    signer: bytes
    body: Body
    raw: bytes


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def canonical(obj: object) -> bytes:
    """The canonical JSON encoding used for signing and on the wire."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def encode(key: Ed25519PrivateKey, kind: Kind, body: Body) -> Signed:
    """Sign ``body`` as a message of ``kind`` with ``key``."""
    signer = public_bytes(key)
    unsigned = {"v": VERSION, "kind": kind.value, "signer": signer.hex(), "body": body}
    try:
        payload = DOMAIN + canonical(unsigned)
    except UnicodeEncodeError as exc:
        raise ConvergeMessageError(f"{kind.value} body is not valid UTF-8 text") from exc
    except (TypeError, ValueError) as exc:
        raise ConvergeMessageError(f"{kind.value} body is not JSON data: {exc}") from exc
    raw = canonical({**unsigned, "sig": key.sign(payload).hex()})
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ConvergeMessageError(f"{kind.value} message of {len(raw)} bytes is over the limit")
    return Signed(kind, signer, body, raw)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ConvergeMessageError(f"duplicate JSON key {k!r}")
        out[k] = v
    return out


def _reject_float(text: str) -> float:
    raise ConvergeMessageError(f"floating point number {text!r} not allowed")


def _loads(data: bytes) -> object:
    try:
        text = data.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_reject_float)
    except UnicodeDecodeError as exc:
        raise ConvergeMessageError("message is not UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ConvergeMessageError):
            raise
        raise ConvergeMessageError(f"message is not JSON: {exc}") from exc


def decode(data: bytes) -> Signed:
    """Parse and verify one message; raises ConvergeMessageError (or VersionError)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ConvergeMessageError("message must be bytes")
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ConvergeMessageError(f"message of {len(data)} bytes is over the limit")
    obj = _loads(data)
    if not isinstance(obj, dict) or set(obj) != {"v", "kind", "signer", "body", "sig"}:
        raise ConvergeMessageError("message must have exactly v, kind, signer, body, sig")
    if obj["v"] != VERSION:
        raise VersionError(f"convergence message version {obj['v']!r} is not {VERSION}")
    try:
        kind = Kind(obj["kind"])
    except (ValueError, TypeError) as exc:
        raise ConvergeMessageError(f"unknown message kind {obj['kind']!r}") from exc
    signer = hex_field(obj, "signer", KEY_BYTES)
    sig = hex_field(obj, "sig", SIG_BYTES)
    body = obj["body"]
    if not isinstance(body, dict):
        raise ConvergeMessageError("body must be an object")
    unsigned = {k: obj[k] for k in ("v", "kind", "signer", "body")}
    try:
        payload = DOMAIN + canonical(unsigned)
    except UnicodeEncodeError as exc:
        raise ConvergeMessageError("message holds a lone surrogate") from exc
    verify(signer, sig, payload)
    return Signed(kind, signer, body, data)


def verify(signer: bytes, sig: bytes, payload: bytes) -> None:
    """Check an Ed25519 signature; raises ConvergeMessageError if it does not verify."""
    try:
        Ed25519PublicKey.from_public_bytes(signer).verify(sig, payload)
    except (InvalidSignature, ValueError) as exc:
        raise ConvergeMessageError("bad signature") from exc


def decode_as(data: bytes, kind: Kind) -> Signed:
    """Decode a message that must be of ``kind``."""
    msg = decode(data)
    if msg.kind is not kind:
        raise ConvergeMessageError(f"expected a {kind.value} message, got {msg.kind.value}")
    return msg


# --- typed field access ------------------------------------------------------------


def field(body: Mapping[str, Any], name: str) -> Any:
    """The value of ``name``; a clear error if it is missing."""
    if name not in body:
        raise ConvergeMessageError(f"field {name!r} is missing")
    return body[name]


def str_field(body: Mapping[str, Any], name: str, max_bytes: int) -> str:
    """A string field of at most ``max_bytes`` UTF-8 bytes."""
    value = field(body, name)
    if not isinstance(value, str):
        raise ConvergeMessageError(f"field {name!r} must be a string")
    if len(value.encode("utf-8")) > max_bytes:
        raise ConvergeMessageError(f"field {name!r} is longer than {max_bytes} bytes")
    return value


def int_field(body: Mapping[str, Any], name: str, lo: int = 0, hi: int = 2**63 - 1) -> int:
    """An integer field in ``[lo, hi]``."""
    value = field(body, name)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConvergeMessageError(f"field {name!r} must be an integer in [{lo}, {hi}]")
    return value


def hex_field(body: Mapping[str, Any], name: str, nbytes: int) -> bytes:
    """A field holding exactly ``nbytes`` bytes as lowercase hex."""
    return parse_hex(field(body, name), name, nbytes)


def parse_hex(value: object, name: str, nbytes: int) -> bytes:
    """Lowercase hex of exactly ``nbytes`` bytes."""
    if not isinstance(value, str) or len(value) != 2 * nbytes or value != value.lower():
        raise ConvergeMessageError(f"{name!r} must be {nbytes} bytes of lowercase hex")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise ConvergeMessageError(f"{name!r} is not hex") from exc


def list_field(body: Mapping[str, Any], name: str, max_items: int) -> list[Any]:
    """A list field of at most ``max_items`` items."""
    value = field(body, name)
    if not isinstance(value, list):
        raise ConvergeMessageError(f"field {name!r} must be a list")
    if len(value) > max_items:
        raise ConvergeMessageError(f"field {name!r} has more than {max_items} items")
    return value


def raw_list_field(body: Mapping[str, Any], name: str, max_items: int) -> list[bytes]:
    """A list of embedded messages, each carried as a JSON string of its wire bytes."""
    out: list[bytes] = []
    for item in list_field(body, name, max_items):
        if not isinstance(item, str):
            raise ConvergeMessageError(f"items of {name!r} must be strings")
        out.append(item.encode("utf-8"))
    return out


def embed(msgs: list[Signed]) -> list[str]:
    """Embed signed messages in a bundle body (their wire bytes are UTF-8 JSON)."""
    return [m.raw.decode("utf-8") for m in msgs]
