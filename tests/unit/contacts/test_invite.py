"""Invites: layout, text and link forms, signatures, and every way to refuse one."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config.schema import Level
from gateway.contacts import invite as inv
from gateway.contacts.invite import (
    Invite,
    check_expiry,
    decode_invite,
    encode_invite,
    invite_body,
    invite_bytes,
    invite_from_bytes,
    new_invite,
    parse_invite,
    sign_invite,
    verify_invite,
)
from gateway.errors import InviteError
from gateway.state.keys import IdentityKeys
from gateway.state.onion_key import OnionKey, onion_address
from tests.unit.contacts.helpers import DAY, NOW, sample_invite


def _text_of(raw: bytes) -> str:
    return "gw1:" + base64.b32encode(raw).decode().rstrip("=").lower()


def _reason(text: str, now: int = NOW) -> str:
    with pytest.raises(InviteError) as info:
        decode_invite(text, now)
    assert info.value.code == f"invite_{info.value.reason}" and str(info.value)
    return info.value.reason


@pytest.mark.parametrize("level", list(Level))
@pytest.mark.parametrize("nickname", [None, "alice", "Zoë ☕ 32 bytes of nickname."[:20]])
@pytest.mark.parametrize("auth", [None, bytes(range(32))])
def test_round_trip(level: Level, nickname: str | None, auth: bytes | None) -> None:
    _, invite = sample_invite(level=level, nickname=nickname, auth=auth)
    for text in (
        invite.text,
        invite.link,
        invite.link.upper(),
        f"  {invite.text[:50]}\n{invite.text[50:]} ",
    ):
        assert decode_invite(text, NOW) == invite
    assert invite.text.startswith("gw1:") and invite.text == invite.text.lower()
    assert "=" not in invite.text
    assert invite.link == "gateway:invite/" + invite.text


def test_layout_matches_docs_byte_by_byte() -> None:
    keys, invite = sample_invite(level=Level.PARANOID, nickname="bob", auth=b"\x09" * 32)
    raw = invite_bytes(invite)
    assert raw[0] == 1
    assert raw[1] == 0x02 | 0x04 | 0x08 | 0x10  # paranoid, PQ, client auth, nickname
    assert raw[2:34] == invite.onion_key
    assert raw[34:66] == keys.signing_public
    assert raw[66:98] == keys.static_public
    assert int.from_bytes(raw[98:106], "big") == invite.expires
    assert raw[106:122] == invite.secret
    assert raw[122:154] == b"\x09" * 32
    assert raw[154] == 3 and raw[155:158] == b"bob"
    assert len(raw) == 158 + 64
    public = keys.signing.public_key()
    public.verify(raw[-64:], b"gateway/v1 invite" + raw[:-64])  # raises if not so
    _, plain = sample_invite(level=Level.STANDARD, nickname=None, auth=None)
    assert len(invite_bytes(plain)) == 186
    assert invite_bytes(plain)[1] == 0


def test_fields_and_onion_address() -> None:
    onion = OnionKey.generate()
    keys = IdentityKeys.generate()
    invite = new_invite(keys.signing, onion.public_key, keys.static_public, expires=NOW + 5)
    assert invite.onion_address == onion.address == onion_address(onion.public_key)
    assert invite.identity_key == keys.signing_public
    assert len(invite.secret) == 16
    other = new_invite(keys.signing, onion.public_key, keys.static_public, expires=NOW + 5)
    assert other.secret != invite.secret
    assert "secret" not in repr(invite) and invite.secret.hex() not in repr(invite)


def test_every_single_byte_change_is_refused() -> None:
    _, invite = sample_invite()
    raw = invite_bytes(invite)
    for i in range(len(raw)):
        for delta in (0x01, 0x80):
            changed = bytearray(raw)
            changed[i] ^= delta
            with pytest.raises(InviteError) as info:
                decode_invite(_text_of(bytes(changed)), NOW)
            assert info.value.reason in {"bad_signature", "malformed", "version"}, i


def test_a_changed_field_with_the_old_signature_is_a_bad_signature() -> None:
    _, invite = sample_invite()
    tampered = Invite(**{**invite.__dict__, "expires": invite.expires + DAY})
    with pytest.raises(InviteError, match=r"the signature does not match"):
        verify_invite(tampered)
    assert _reason(_text_of(invite_body(tampered) + invite.signature)) == "bad_signature"


def test_resigned_by_another_key_is_refused() -> None:
    _, invite = sample_invite()
    mallory = Ed25519PrivateKey.generate()
    forged = Invite(
        **{**invite.__dict__, "signature": mallory.sign(b"gateway/v1 invite" + invite_body(invite))}
    )
    with pytest.raises(InviteError) as info:
        verify_invite(forged)
    assert info.value.reason == "bad_signature"
    with pytest.raises(InviteError, match="not the invite's identity key"):
        sign_invite(invite, mallory)


def test_every_truncation_is_malformed() -> None:
    _, invite = sample_invite()
    raw = invite_bytes(invite)
    for size in range(len(raw)):
        with pytest.raises(InviteError) as info:
            invite_from_bytes(raw[:size])
        assert info.value.reason == "malformed" or size == 0
    text = invite.text
    for cut in (5, 40, len(text) - 1, len(text) - 7):
        assert _reason(text[:cut]) in {"malformed", "bad_signature"}


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        ("", "malformed", "expected a string starting with gw1:"),
        ("hello world", "malformed", "expected a string starting with gw1:"),
        ("gw1:", "malformed", "empty"),
        ("gw1:!!!!", "malformed", "not valid base32"),
        ("gw1:a", "malformed", "not valid base32"),
        ("gw2:aaaa", "version", "unsupported invite format 'gw2:'"),
        ("gateway:invite/gw9:aaaa", "version", "this gateway reads gw1:"),
    ],
)
def test_garbage_is_refused_with_a_clear_message(text: str, reason: str, message: str) -> None:
    with pytest.raises(InviteError, match=message) as info:
        decode_invite(text, NOW)
    assert info.value.reason == reason


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_random_bytes_never_decode_or_leak_other_errors(data: bytes) -> None:
    with pytest.raises(InviteError):
        decode_invite(_text_of(data), NOW)


def test_wrong_version_byte_even_when_signed() -> None:
    keys, invite = sample_invite()
    body = bytearray(invite_body(invite))
    body[0] = 2
    signature = keys.signing.sign(b"gateway/v1 invite" + bytes(body))
    with pytest.raises(InviteError, match="invite version 2 is not supported") as info:
        decode_invite(_text_of(bytes(body) + signature), NOW)
    assert info.value.reason == "version"


def test_reserved_flags_and_level_3_are_malformed_even_when_signed() -> None:
    keys, invite = sample_invite(nickname=None, auth=None)
    for flags in (0x03, 0x20, 0x80):
        body = bytearray(invite_body(invite))
        body[1] = flags
        signature = keys.signing.sign(b"gateway/v1 invite" + bytes(body))
        with pytest.raises(InviteError, match="unknown flags"):
            decode_invite(_text_of(bytes(body) + signature), NOW)


def test_trailing_bytes_and_non_canonical_base32_are_malformed() -> None:
    keys, invite = sample_invite(nickname=None, auth=None)
    body = invite_body(invite) + b"\x00"
    signature = keys.signing.sign(b"gateway/v1 invite" + body)
    with pytest.raises(InviteError, match="1 unexpected bytes"):
        decode_invite(_text_of(body + signature), NOW)
    text = invite.text  # 186 bytes: the last base32 character carries 3 unused bits
    last = "abcdefghijklmnopqrstuvwxyz234567".index(text[-1])
    other = "abcdefghijklmnopqrstuvwxyz234567"[last ^ 1]
    with pytest.raises(InviteError, match="not canonical"):
        decode_invite(text[:-1] + other, NOW)


def test_expired_invites_are_refused() -> None:
    _, invite = sample_invite(expires=NOW + 60)
    assert decode_invite(invite.text, NOW + 59) == invite
    with pytest.raises(
        InviteError, match=r"this invite expired at 2023-11-14 22:14:20 UTC"
    ):
        decode_invite(invite.text, NOW + 60)
    assert parse_invite(invite.text) == invite  # parsing alone does not check expiry
    with pytest.raises(InviteError):
        check_expiry(invite, NOW + 10 * DAY)


@pytest.mark.parametrize("nickname", ["", " lead", "tab\there", "x" * 33, "é" * 17])
def test_bad_nicknames_are_refused(nickname: str) -> None:
    with pytest.raises(InviteError, match="nickname") as info:
        sample_invite(nickname=nickname)
    assert info.value.reason == "malformed"


def test_bad_field_sizes_are_refused_when_encoding() -> None:
    keys = IdentityKeys.generate()
    onion = OnionKey.generate().public_key
    with pytest.raises(InviteError, match="onion_key must be 32 bytes"):
        new_invite(keys.signing, onion[:31], keys.static_public, expires=NOW)
    with pytest.raises(InviteError, match="all zeros"):
        new_invite(keys.signing, onion, bytes(32), expires=NOW)
    with pytest.raises(InviteError, match="secret must be 16 bytes"):
        new_invite(keys.signing, onion, keys.static_public, expires=NOW, secret=b"short")
    with pytest.raises(InviteError, match="client-auth key must be 32 bytes"):
        new_invite(keys.signing, onion, keys.static_public, expires=NOW, client_auth_private=b"k")
    with pytest.raises(InviteError, match="out of range"):
        new_invite(keys.signing, onion, keys.static_public, expires=-1)
    unsigned = Invite(onion, keys.signing_public, keys.static_public, NOW, b"s" * 16)
    with pytest.raises(InviteError, match="not signed"):
        encode_invite(unsigned)


def test_prefix_constants() -> None:
    assert inv.TEXT_PREFIX == "gw1:" and inv.LINK_PREFIX == "gateway:invite/"


def test_a_cut_off_invite_never_reads_as_another_version() -> None:
    """A truncated invite said 'invite version 0 is not supported'."""
    _, invite = sample_invite()
    text = invite.text
    for cut in range(5, len(text), 3):
        with pytest.raises(InviteError) as info:
            decode_invite(text[:cut], NOW)
        assert info.value.reason != "version", (cut, str(info.value))
    raw = invite_bytes(invite)
    with pytest.raises(InviteError, match="truncated"):
        invite_from_bytes(b"\x00" + raw[1:40])
