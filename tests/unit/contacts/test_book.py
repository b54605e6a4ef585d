"""The contact book: invites made and redeemed, contacts added, paired, found and removed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.config.schema import Level, PaddingMode
from gateway.contacts.book import ContactBook, ContactState, Revocation, secret_hash
from gateway.contacts.client_auth import ClientAuthKey, client_name
from gateway.contacts.invite import decode_invite
from gateway.errors import ContactError, InviteError
from gateway.session.offer import Offer
from gateway.state.keys import IdentityKeys
from gateway.state.onion_key import OnionKey
from tests.unit.contacts.helpers import DAY, NOW, Node, make_node


@pytest.fixture
def alice(tmp_path: Path) -> Node:
    return make_node(tmp_path, "alice")


@pytest.fixture
def bob(tmp_path: Path) -> Node:
    return make_node(tmp_path, "bob")


def _reason(exc: pytest.ExceptionInfo[InviteError]) -> str:
    return exc.value.reason


def _pair(alice: Node, bob: Node, *, client_auth: bool = False) -> tuple[bytes, bytes | None]:
    """Alice invites, Bob adds, Alice redeems; (secret, key Bob offered to Alice)."""
    invite = alice.invite(client_auth=client_auth, label="bob")
    added = bob.book.add_contact(invite.text, NOW + 10, client_auth=client_auth)
    assert added.invite_secret is not None
    alice.book.redeem(
        added.invite_secret,
        bob.identity,
        bob.keys.static_public,
        bob.address,
        NOW + 20,
        client_auth_private=added.offer_auth_private,
    )
    return added.invite_secret, added.offer_auth_private


def test_make_invite_records_only_the_hash_of_the_secret(alice: Node, tmp_path: Path) -> None:
    invite = alice.invite(label="for bob", level=Level.HIGH, post_quantum=True)
    assert decode_invite(invite.text, NOW) == invite
    assert invite.expires == NOW + DAY and invite.level is Level.HIGH and invite.post_quantum
    (pending,) = alice.book.pending_invites()
    assert pending.secret_hash == secret_hash(invite.secret)
    assert (pending.created, pending.expires, pending.used_at) == (NOW, NOW + DAY, None)
    assert pending.label == "for bob" and pending.auth_public is None
    raw = sqlite3.connect(tmp_path / "alice.db")
    dump = b"".join(
        bytes(v) if isinstance(v, bytes) else str(v).encode()
        for row in raw.execute("SELECT * FROM invites")
        for v in row
    )
    raw.close()
    assert invite.secret not in dump


def test_invite_with_client_auth_keeps_the_public_half(alice: Node) -> None:
    invite = alice.invite(client_auth=True)
    assert invite.client_auth_private is not None
    public = ClientAuthKey(invite.client_auth_private).public
    assert alice.book.pending_invites()[0].auth_public == public
    assert alice.book.authorized_client_keys(NOW) == (public,)
    assert alice.book.authorized_client_keys(NOW + DAY) == ()  # expired: no longer authorized


def test_bad_invite_parameters_are_refused(alice: Node) -> None:
    with pytest.raises(InviteError, match="valid for some time"):
        alice.invite(ttl=0)
    with pytest.raises(InviteError, match="label"):
        alice.invite(label="x" * 65)
    with pytest.raises(InviteError, match="label"):
        alice.invite(label="bad\nlabel")
    assert alice.book.pending_invites() == ()


def test_full_pairing_with_client_auth(alice: Node, bob: Node) -> None:
    invite = alice.invite(client_auth=True, label="bob", nickname="alice")
    added = bob.book.add_contact(invite.text, NOW + 10, client_auth=True)
    assert added.state is ContactState.PENDING
    assert (added.identity, added.static_key) == (alice.identity, alice.keys.static_public)
    assert added.onion_address == alice.address and added.nickname == "alice"
    assert added.auth_private == invite.client_auth_private  # to reach Alice's onion
    assert added.invite_secret == invite.secret
    assert added.offer_auth_private is not None
    assert added.auth_public == ClientAuthKey(added.offer_auth_private).public
    assert added.added_at == NOW + 10 and added.last_seen is None

    paired = alice.book.redeem(
        invite.secret,
        bob.identity,
        bob.keys.static_public,
        bob.address + ".onion",
        NOW + 20,
        client_auth_private=added.offer_auth_private,
    )
    assert paired.state is ContactState.PAIRED and paired.nickname == "bob"
    assert paired.onion_address == bob.address and paired.last_seen == NOW + 20
    assert paired.auth_public == ClientAuthKey(invite.client_auth_private or b"").public
    assert paired.auth_private == added.offer_auth_private
    assert alice.book.pending_invites()[0].used_at == NOW + 20
    assert alice.book.is_contact(bob.identity) and alice.book.get(bob.identity) == paired

    done = bob.book.mark_paired(alice.identity, NOW + 30)
    assert done.state is ContactState.PAIRED and done.last_seen == NOW + 30
    assert done.invite_secret is None and done.offer_auth_private is None
    assert done.auth_private == invite.client_auth_private and done.auth_public == added.auth_public


def test_second_redeem_is_refused_as_reused(alice: Node, bob: Node, tmp_path: Path) -> None:
    secret, _ = _pair(alice, bob)
    carol = IdentityKeys.generate()
    with pytest.raises(InviteError, match="already used") as info:
        alice.book.redeem(
            secret, carol.signing_public, carol.static_public, OnionKey.generate().address, NOW + 30
        )
    assert _reason(info) == "reused"
    assert not alice.book.is_contact(carol.signing_public)


def test_redeem_refuses_unknown_expired_and_self(alice: Node, bob: Node) -> None:
    args = (bob.identity, bob.keys.static_public, bob.address)
    with pytest.raises(InviteError, match="no invite of this node") as info:
        alice.book.redeem(b"\x00" * 16, *args, NOW)
    assert _reason(info) == "unknown"
    invite = alice.invite(ttl=60)
    with pytest.raises(InviteError, match="expired") as info:
        alice.book.redeem(invite.secret, *args, NOW + 60)
    assert _reason(info) == "expired"
    with pytest.raises(InviteError) as info:
        alice.book.redeem(
            invite.secret, alice.identity, alice.keys.static_public, alice.address, NOW
        )
    assert _reason(info) == "self"
    assert alice.book.list() == ()
    assert alice.book.pending_invites()[0].used_at is None  # nothing was used up
    with pytest.raises(ContactError, match="onion address"):
        alice.book.redeem(invite.secret, bob.identity, bob.keys.static_public, "nope", NOW)
    with pytest.raises(ContactError, match="32 bytes"):
        alice.book.redeem(invite.secret, b"short", bob.keys.static_public, bob.address, NOW)


def test_redeem_by_a_paired_contact_is_a_duplicate(alice: Node, bob: Node) -> None:
    _pair(alice, bob)
    again = alice.invite()
    with pytest.raises(InviteError) as info:
        alice.book.redeem(again.secret, bob.identity, bob.keys.static_public, bob.address, NOW + 40)
    assert _reason(info) == "duplicate"
    by_hash = {p.secret_hash: p for p in alice.book.pending_invites()}
    assert by_hash[secret_hash(again.secret)].used_at is None


def test_crossing_invites_pair_and_keep_what_the_pending_contact_offers(
    alice: Node, bob: Node
) -> None:
    from_bob = bob.invite(client_auth=True)
    mine = alice.book.add_contact(from_bob.text, NOW, client_auth=True)  # Alice adds Bob's
    to_bob = alice.invite(client_auth=True, label="bobby")
    paired = alice.book.redeem(
        to_bob.secret, bob.identity, bob.keys.static_public, bob.address, NOW + 5
    )
    assert paired.state is ContactState.PAIRED
    assert mine.nickname is None  # Bob's invite had no nickname hint: the label names him
    assert (paired.added_at, paired.nickname) == (NOW, "bobby")
    assert paired.auth_private == from_bob.client_auth_private
    assert paired.auth_public == mine.auth_public
    assert paired.offer_auth_private == mine.offer_auth_private
    # the invite's own key is now held by no contact: pruning revokes it
    invite_key = ClientAuthKey(to_bob.client_auth_private or b"").public
    assert alice.book.prune_invites(NOW + 6) == (Revocation(authorized_public=invite_key),)
    assert alice.book.prune_invites(NOW + 7) == ()


def test_add_contact_refuses_expired_reused_self_and_duplicate(alice: Node, bob: Node) -> None:
    invite = alice.invite(ttl=100)
    with pytest.raises(InviteError) as info:
        bob.book.add_contact(invite.text, NOW + 100)
    assert _reason(info) == "expired"
    with pytest.raises(InviteError, match="own invite") as info:
        alice.book.add_contact(invite.text, NOW)
    assert _reason(info) == "self"
    bob.book.add_contact(invite.text, NOW)
    with pytest.raises(InviteError, match="already added") as info:
        bob.book.add_contact(invite.link, NOW + 1)
    assert _reason(info) == "reused"
    with pytest.raises(InviteError, match="already a contact") as info:
        bob.book.add_contact(alice.invite().text, NOW + 2)
    assert _reason(info) == "duplicate"
    bob.book.remove(alice.identity)
    with pytest.raises(InviteError) as info:  # still single use after the contact is gone
        bob.book.add_contact(invite.text, NOW + 3)
    assert _reason(info) == "reused"
    with pytest.raises(InviteError) as info:
        bob.book.add_contact("gw1:garbage", NOW)
    assert _reason(info) == "malformed"
    assert bob.book.list() == ()


def test_nickname_override_and_validation(alice: Node, bob: Node) -> None:
    contact = bob.book.add_contact(alice.invite(nickname="al").text, NOW, nickname="Alice W.")
    assert contact.nickname == "Alice W."
    with pytest.raises(InviteError, match="nickname"):
        bob.book.add_contact(alice.invite().text, NOW, nickname="\x1b[31m")


def test_find_touch_list_and_remove(alice: Node, bob: Node, tmp_path: Path) -> None:
    contacts = []
    for name in ("carol", "dave", "dave"):
        other = make_node(tmp_path / name, name)
        contacts.append(alice.book.add_contact(other.invite(nickname=name).text, NOW))
    carol, dave1, dave2 = contacts
    assert alice.book.find("carol") == carol
    assert alice.book.find(carol.id) == carol
    assert alice.book.find(carol.id[:8].upper()) == carol
    with pytest.raises(ContactError, match="matches 2 contacts"):
        alice.book.find("dave")
    assert alice.book.find(dave2.id[:16]) == dave2
    assert alice.book.find(dave1.id) == dave1
    with pytest.raises(ContactError, match="no contact"):
        alice.book.find("erin")
    with pytest.raises(ContactError, match="no contact"):
        alice.book.find(carol.id[:7])  # too short to be an id prefix
    alice.book.touch(carol.identity, NOW + 99)
    assert alice.book.get(carol.identity).last_seen == NOW + 99  # type: ignore[union-attr]
    assert [c.nickname for c in alice.book.list()] == ["carol", "dave", "dave"]
    assert alice.book.remove(carol.identity) == Revocation(None, None)
    assert not alice.book.is_contact(carol.identity)
    with pytest.raises(ContactError, match="no contact with id"):
        alice.book.remove(carol.identity)
    with pytest.raises(ContactError):
        alice.book.touch(carol.identity, NOW)
    with pytest.raises(ContactError):
        alice.book.mark_paired(carol.identity, NOW)


def test_remove_returns_the_client_auth_revocations(alice: Node, bob: Node) -> None:
    _, offered = _pair(alice, bob, client_auth=True)
    bobs_view = bob.book.get(alice.identity)
    alices_view = alice.book.get(bob.identity)
    assert bobs_view is not None and alices_view is not None
    revoked = alice.book.remove(bob.identity)
    assert alices_view.auth_public is not None
    assert revoked.authorized_public == alices_view.auth_public
    assert revoked.authorized_name == client_name(revoked.authorized_public)
    assert revoked.client_auth_onion == bob.address  # Bob gave Alice a key for his onion
    assert alice.book.authorized_client_keys(NOW) == ()
    assert alice.book.prune_invites(NOW) == ()  # already revoked with the contact
    assert bob.book.remove(alice.identity) == Revocation(bobs_view.auth_public, alice.address)
    assert offered is not None


def test_prune_forgets_expired_invites(alice: Node) -> None:
    unused = alice.invite(client_auth=True, ttl=100)
    kept = alice.invite(client_auth=True, ttl=1000)
    (revocation,) = alice.book.prune_invites(NOW + 100)
    assert revocation.authorized_public == ClientAuthKey(unused.client_auth_private or b"").public
    assert [p.secret_hash for p in alice.book.pending_invites()] == [secret_hash(kept.secret)]
    assert len(alice.book.authorized_client_keys(NOW + 100)) == 1


def test_the_book_persists_and_reopening_is_idempotent(tmp_path: Path) -> None:
    keys = IdentityKeys.generate()
    other = make_node(tmp_path, "other")
    with ContactBook.open(tmp_path / "me.db", keys.signing_public) as book:
        contact = book.add_contact(other.invite().text, NOW)
    for _ in range(2):
        with ContactBook.open(tmp_path / "me.db", keys.signing_public) as book:
            assert book.list() == (contact,)
    conn = sqlite3.connect(tmp_path / "me.db")
    assert conn.execute("SELECT version FROM schema_versions WHERE name='contacts'").fetchone() == (
        3,
    )
    conn.close()


def test_a_version_1_book_is_upgraded_and_keeps_its_contacts(tmp_path: Path) -> None:
    keys = IdentityKeys.generate()
    other = make_node(tmp_path, "other")
    with ContactBook.open(tmp_path / "old.db", keys.signing_public) as book:
        contact = book.add_contact(other.invite().text, NOW)
    conn = sqlite3.connect(tmp_path / "old.db")  # as a book of version 1 left it
    conn.execute("DROP TABLE peer_offers")
    conn.execute("DROP TABLE auth_pool")
    conn.execute("UPDATE schema_versions SET version = 1 WHERE name = 'contacts'")
    conn.commit()
    conn.close()
    with ContactBook.open(tmp_path / "old.db", keys.signing_public) as book:
        assert book.list() == (contact,) and book.peer_offer(contact.identity) is None
        book.note_offer(contact.identity, Offer(post_quantum=True))
        assert book.peer_offer(contact.identity) == Offer(post_quantum=True)


def test_contact_repr_hides_private_material(alice: Node, bob: Node) -> None:
    invite = alice.invite(client_auth=True)
    contact = bob.book.add_contact(invite.text, NOW, client_auth=True)
    text = repr(contact)
    assert invite.secret.hex() not in text and "invite_secret" not in text
    assert (
        invite.client_auth_private or b""
    ).hex() not in text and "offer_auth_private" not in text


def test_an_invite_from_any_level_is_added_and_its_post_quantum_need_remembered(
    alice: Node, bob: Node
) -> None:
    """Links take the stronger of both sides' offers, so any level pairs with any other. A
    paranoid inviter requires the post-quantum handshake: the invitee remembers that from
    the invite, so its first dial takes the step; later handshakes update what is known."""
    invite = alice.invite(level=Level.PARANOID, post_quantum=True)
    contact = bob.book.add_contact(invite.text, NOW)
    assert contact.state.value == "pending"
    assert bob.book.peer_offer(contact.identity) == Offer(post_quantum=True)
    seen = Offer(True, True, PaddingMode.FIXED)
    bob.book.note_offer(contact.identity, seen)
    assert bob.book.peer_offer(contact.identity) == seen
    bob.book.note_offer(b"\x07" * 32, seen)  # a stranger: nothing is stored
    assert bob.book.peer_offer(b"\x07" * 32) is None
    bob.book.remove(contact.identity)
    assert bob.book.peer_offer(contact.identity) is None
    plain = bob.book.add_contact(alice.invite(level=Level.HIGH).text, NOW)
    assert bob.book.peer_offer(plain.identity) == Offer(post_quantum=False)


def test_rename_checks_the_name_and_keeps_names_unique(alice: Node, bob: Node) -> None:
    """``contacts rename`` (the inviter's side showed '(no nickname)' with no way to name it)."""
    contact = bob.book.add_contact(alice.invite().text, NOW)
    assert bob.book.rename(contact.identity, "alice").nickname == "alice"
    assert bob.book.find("alice").identity == contact.identity
    with pytest.raises(ContactError, match="control or edge whitespace"):
        bob.book.rename(contact.identity, " alice")
    with pytest.raises(ContactError, match="no contact"):
        bob.book.rename(b"\x01" * 32, "x")


def test_invites_take_pre_authorized_keys_from_the_pool_then_fresh_ones(alice: Node) -> None:
    """At PARANOID the node authorizes a pool of keys before its tor starts; an invite takes
    one (no tor restart), oldest first, and makes a fresh one once the pool is empty."""
    pooled = alice.book.fill_auth_pool(2, NOW)
    assert len(pooled) == 2 and alice.book.fill_auth_pool(2, NOW) == pooled  # topped up only
    first = alice.invite(client_auth=True)
    second = alice.invite(client_auth=True)
    third = alice.invite(client_auth=True)
    publics = [ClientAuthKey(i.client_auth_private).public for i in (first, second, third)]  # type: ignore[arg-type]
    assert set(publics[:2]) == set(pooled) and publics[2] not in pooled
    assert alice.book.fill_auth_pool(0, NOW) == ()  # the pool is empty now
    assert [p.auth_public for p in alice.book.pending_invites()] != [None] * 3
    refilled = alice.book.fill_auth_pool(3, NOW + 1)
    assert len(refilled) == 3 and not set(refilled) & set(publics)
    assert alice.invite().client_auth_private is None  # no client auth: the pool is untouched
    assert alice.book.fill_auth_pool(0, NOW) == refilled
