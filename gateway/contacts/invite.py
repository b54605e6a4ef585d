"""Invites: one signed, pasteable string that lets another node become a contact.

Sans-I/O. The binary layout (version 1, byte by byte in docs/INVITES.md)::

    version(1) flags(1) onion_key(32) identity_key(32) static_key(32)
    expires(8, u64 BE) secret(16) [client_auth_private(32)] [nick_len(1) nick]
    signature(64)

The signature is Ed25519 by ``identity_key`` over ``SIGNATURE_LABEL`` followed
by every preceding byte. The text form is ``gw1:`` + lower-case base32 without
padding; the link form is ``gateway:invite/`` + the text form.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
import struct
import unicodedata
from dataclasses import dataclass, field, replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.config.schema import Level
from gateway.contacts.onion import onion_address
from gateway.errors import InviteError

INVITE_VERSION = 1
TEXT_PREFIX = f"gw{INVITE_VERSION}:"
LINK_PREFIX = "gateway:invite/"
SIGNATURE_LABEL = b"gateway/v1 invite"
SECRET_LEN = 16
KEY_LEN = 32
SIGNATURE_LEN = 64
MAX_NICKNAME_BYTES = 32
MAX_EXPIRES = 2**63 - 1

FLAG_LEVEL_MASK = 0x03
FLAG_POST_QUANTUM = 0x04
FLAG_CLIENT_AUTH = 0x08
FLAG_NICKNAME = 0x10
_RESERVED_FLAGS = 0xE0
_LEVELS = (Level.STANDARD, Level.HIGH, Level.PARANOID)
_FIXED = struct.Struct(">BB32s32s32sQ16s")


@dataclass(frozen=True)
class Invite:
    """An invite's fields; ``signature`` is empty until :func:`sign_invite`."""

    onion_key: bytes
    identity_key: bytes
    static_key: bytes
    expires: int
    secret: bytes = field(repr=False)
    level: Level = Level.STANDARD
    post_quantum: bool = False
    nickname: str | None = None
    client_auth_private: bytes | None = field(default=None, repr=False)
    signature: bytes = field(default=b"", repr=False)
    version: int = INVITE_VERSION

    @property
    def onion_address(self) -> str:
        """The inviter's 56-character onion address (no ``.onion``)."""
        return onion_address(self.onion_key)

    @property
    def text(self) -> str:
        """The pasteable string (``gw1:...``)."""
        return encode_invite(self)

    @property
    def link(self) -> str:
        """The link form (``gateway:invite/gw1:...``)."""
        return LINK_PREFIX + encode_invite(self)


def new_invite(
    signing_key: Ed25519PrivateKey,
    onion_key: bytes,
    static_key: bytes,
    *,
    expires: int,
    level: Level = Level.STANDARD,
    post_quantum: bool = False,
    nickname: str | None = None,
    client_auth_private: bytes | None = None,
    secret: bytes | None = None,
) -> Invite:
    """A signed invite with a fresh random secret (unless ``secret`` is given)."""
    identity = signing_key.public_key().public_bytes_raw()
    unsigned = Invite(
        onion_key=onion_key,
        identity_key=identity,
        static_key=static_key,
        expires=expires,
        secret=os.urandom(SECRET_LEN) if secret is None else secret,
        level=level,
        post_quantum=post_quantum,
        nickname=nickname,
        client_auth_private=client_auth_private,
    )
    return sign_invite(unsigned, signing_key)


def sign_invite(invite: Invite, signing_key: Ed25519PrivateKey) -> Invite:
    """``invite`` signed by ``signing_key``, which must be its identity key."""
    public = signing_key.public_key().public_bytes_raw()
    if public != invite.identity_key:
        raise InviteError("malformed", "the signing key is not the invite's identity key")
    body = invite_body(invite)
    return replace(invite, signature=signing_key.sign(SIGNATURE_LABEL + body))


def invite_body(invite: Invite) -> bytes:
    """The signed bytes of ``invite`` (everything before the signature), checked."""
    _check_fields(invite)
    flags = _LEVELS.index(invite.level)
    flags |= FLAG_POST_QUANTUM if invite.post_quantum else 0
    tail = b""
    if invite.client_auth_private is not None:
        flags |= FLAG_CLIENT_AUTH
        tail += invite.client_auth_private
    if invite.nickname is not None:
        flags |= FLAG_NICKNAME
        nick = invite.nickname.encode("utf-8")
        tail += bytes([len(nick)]) + nick
    head = _FIXED.pack(
        invite.version,
        flags,
        invite.onion_key,
        invite.identity_key,
        invite.static_key,
        invite.expires,
        invite.secret,
    )
    return head + tail


def _check_fields(invite: Invite) -> None:
    if invite.version != INVITE_VERSION:
        raise InviteError("version", f"cannot write invite version {invite.version}")
    for name in ("onion_key", "identity_key", "static_key"):
        if len(getattr(invite, name)) != KEY_LEN:
            raise InviteError("malformed", f"{name} must be {KEY_LEN} bytes")
    if not any(invite.static_key):
        raise InviteError("malformed", "the static key is all zeros")
    if len(invite.secret) != SECRET_LEN:
        raise InviteError("malformed", f"the secret must be {SECRET_LEN} bytes")
    if not 0 <= invite.expires <= MAX_EXPIRES:
        raise InviteError("malformed", f"expiry {invite.expires} is out of range")
    auth = invite.client_auth_private
    if auth is not None and len(auth) != KEY_LEN:
        raise InviteError("malformed", f"the client-auth key must be {KEY_LEN} bytes")
    if invite.nickname is not None:
        check_nickname(invite.nickname)


def check_nickname(nickname: str) -> str:
    """``nickname`` if it is 1..32 UTF-8 bytes of printable text without edge spaces."""
    size = len(nickname.encode("utf-8"))
    if not 1 <= size <= MAX_NICKNAME_BYTES:
        raise InviteError("malformed", f"a nickname is 1 to {MAX_NICKNAME_BYTES} bytes, got {size}")
    if nickname != nickname.strip() or any(
        unicodedata.category(c).startswith("C") for c in nickname
    ):
        raise InviteError("malformed", f"nickname {nickname!r} has control or edge whitespace")
    return nickname


def invite_bytes(invite: Invite) -> bytes:
    """The binary invite: body then signature."""
    if len(invite.signature) != SIGNATURE_LEN:
        raise InviteError("malformed", "the invite is not signed")
    return invite_body(invite) + invite.signature


def encode_invite(invite: Invite) -> str:
    """The text form: ``gw1:`` + lower-case unpadded base32 of :func:`invite_bytes`."""
    raw = base64.b32encode(invite_bytes(invite)).decode("ascii")
    return TEXT_PREFIX + raw.rstrip("=").lower()


def parse_invite(text: str) -> Invite:
    """Decode the text or link form and verify the signature (expiry is not checked)."""
    invite = invite_from_bytes(_text_to_bytes(text))
    verify_invite(invite)
    return invite


def decode_invite(text: str, now: int) -> Invite:
    """:func:`parse_invite`, then refuse an invite that has expired at ``now`` (unix s)."""
    invite = parse_invite(text)
    check_expiry(invite, now)
    return invite


def check_expiry(invite: Invite, now: int) -> None:
    """Refuse ``invite`` if ``now`` is at or after its expiry."""
    if now >= invite.expires:
        when = _utc(invite.expires)
        raise InviteError("expired", f"this invite expired at {when}; ask for a new one")


def verify_invite(invite: Invite) -> None:
    """Check the Ed25519 signature of ``invite`` by its own identity key."""
    try:
        key = Ed25519PublicKey.from_public_bytes(invite.identity_key)
        key.verify(invite.signature, SIGNATURE_LABEL + invite_body(invite))
    except (InvalidSignature, ValueError):
        raise InviteError(
            "bad_signature", "the signature does not match (changed or corrupted in transit)"
        ) from None


def _text_to_bytes(text: str) -> bytes:
    cleaned = "".join(text.split()).lower()
    cleaned = cleaned.removeprefix(LINK_PREFIX)
    prefix, sep, body = cleaned.partition(":")
    if not sep or not prefix.startswith("gw"):
        raise InviteError("malformed", f"expected a string starting with {TEXT_PREFIX}")
    if prefix != TEXT_PREFIX[:-1]:
        raise InviteError(
            "version",
            f"unsupported invite format {prefix + ':'!r}; this gateway reads {TEXT_PREFIX}",
        )
    padded = body.upper() + "=" * (-len(body) % 8)
    try:
        raw = base64.b32decode(padded)
    except (binascii.Error, ValueError):
        raise InviteError(
            "malformed", "the invite is not valid base32 (cut off or mistyped?)"
        ) from None
    if base64.b32encode(raw).decode("ascii").rstrip("=").lower() != body:
        raise InviteError("malformed", "the invite's base32 is not canonical (mistyped?)")
    return raw


def invite_from_bytes(data: bytes) -> Invite:
    """Parse the binary form (the signature is not verified here)."""
    if not data:
        raise InviteError("malformed", "the invite is empty")
    if len(data) < _FIXED.size + SIGNATURE_LEN:  # before the version: a cut-off text
        raise InviteError(  # decodes to bytes whose first one means nothing
            "malformed", f"the invite is truncated ({len(data)} bytes): was it cut off?"
        )
    if data[0] != INVITE_VERSION:
        raise InviteError(
            "version", f"invite version {data[0]} is not supported (this gateway reads 1)"
        )
    version, flags, onion, identity, static, expires, secret = _FIXED.unpack_from(data)
    if flags & _RESERVED_FLAGS or flags & FLAG_LEVEL_MASK == 3:
        raise InviteError("malformed", f"unknown flags 0x{flags:02x}")
    rest = data[_FIXED.size : -SIGNATURE_LEN]
    auth, rest = _take_auth(rest, flags)
    nickname, rest = _take_nickname(rest, flags)
    if rest:
        raise InviteError("malformed", f"{len(rest)} unexpected bytes before the signature")
    invite = Invite(
        onion_key=onion,
        identity_key=identity,
        static_key=static,
        expires=expires,
        secret=secret,
        level=_LEVELS[flags & FLAG_LEVEL_MASK],
        post_quantum=bool(flags & FLAG_POST_QUANTUM),
        nickname=nickname,
        client_auth_private=auth,
        signature=data[-SIGNATURE_LEN:],
        version=version,
    )
    _check_fields(invite)
    return invite


def _take_auth(rest: bytes, flags: int) -> tuple[bytes | None, bytes]:
    if not flags & FLAG_CLIENT_AUTH:
        return None, rest
    if len(rest) < KEY_LEN:
        raise InviteError("malformed", "the invite is truncated (client-auth key)")
    return rest[:KEY_LEN], rest[KEY_LEN:]


def _take_nickname(rest: bytes, flags: int) -> tuple[str | None, bytes]:
    if not flags & FLAG_NICKNAME:
        return None, rest
    if not rest or len(rest) < 1 + rest[0]:
        raise InviteError("malformed", "the invite is truncated (nickname)")
    size = rest[0]
    try:
        nickname = rest[1 : 1 + size].decode("utf-8")
    except UnicodeDecodeError:
        raise InviteError("malformed", "the nickname is not UTF-8") from None
    return nickname, rest[1 + size :]


def _utc(ts: int) -> str:
    try:
        moment = datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return f"unix time {ts}"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
