"""The contact book: contacts, invites this node made, and invite secrets it used.

Pure SQLite (the ``contacts`` schema in the node's database); no network, no
tor. Who writes or deletes client-authorization files and tells tor is the
caller: :meth:`ContactBook.remove` and :meth:`ContactBook.prune_invites` return
:class:`Revocation` values that say what to undo.

Inviter side: :meth:`~ContactBook.make_invite` records the invite (only the
SHA-256 of its secret); when the invitee first connects and presents the
secret over an authenticated session, the link layer calls
:meth:`~ContactBook.redeem`, which marks the invite used and pairs the contact.

Invitee side: :meth:`~ContactBook.add_contact` checks the invite, records its
secret as used and adds a *pending* contact that keeps the secret to present;
:meth:`~ContactBook.mark_paired` ends that once the first link is up.
"""

from __future__ import annotations

import enum
import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.config.schema import Level
from gateway.contacts.client_auth import ClientAuthKey, client_name
from gateway.contacts.invite import Invite, check_nickname, decode_invite, new_invite
from gateway.contacts.onion import normalize_onion_address
from gateway.errors import ContactError, HandshakeError, InviteError, map_exceptions
from gateway.session.offer import Offer
from gateway.storage.db import (
    SQL_ERRORS,
    Migration,
    apply_migrations,
    open_db,
    register_migration,
    transaction,
)

MAX_LABEL_LEN = 64
MIN_ID_PREFIX = 8

SCHEMA_V1 = Migration(
    "contacts",
    1,
    """
CREATE TABLE invites (
    secret_hash BLOB PRIMARY KEY CHECK (length(secret_hash) = 32),
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    used_at INTEGER,
    used_by BLOB,
    auth_public BLOB CHECK (auth_public IS NULL OR length(auth_public) = 32),
    label TEXT
);
CREATE TABLE contacts (
    identity BLOB PRIMARY KEY CHECK (length(identity) = 32),
    static_key BLOB NOT NULL CHECK (length(static_key) = 32),
    onion_address TEXT NOT NULL CHECK (length(onion_address) = 56),
    nickname TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'paired')),
    added_at INTEGER NOT NULL,
    last_seen INTEGER,
    auth_private BLOB CHECK (auth_private IS NULL OR length(auth_private) = 32),
    auth_public BLOB CHECK (auth_public IS NULL OR length(auth_public) = 32),
    invite_secret BLOB,
    offer_auth_private BLOB
);
CREATE INDEX contacts_nickname ON contacts (nickname);
CREATE TABLE used_secrets (
    secret_hash BLOB PRIMARY KEY CHECK (length(secret_hash) = 32),
    used_at INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
""",
)
#: the last session offer each contact made (docs/LINK.md, "Levels and links")
SCHEMA_V2 = Migration(
    "contacts",
    2,
    """
CREATE TABLE peer_offers (
    identity BLOB PRIMARY KEY CHECK (length(identity) = 32),
    offer INTEGER NOT NULL CHECK (offer BETWEEN 0 AND 255)
);
""",
)
#: client-auth keys authorized ahead of invites (:meth:`ContactBook.fill_auth_pool`)
SCHEMA_V3 = Migration(
    "contacts",
    3,
    """
CREATE TABLE auth_pool (
    public BLOB PRIMARY KEY CHECK (length(public) = 32),
    private BLOB NOT NULL CHECK (length(private) = 32),
    created INTEGER NOT NULL
);
""",
)
register_migration(SCHEMA_V1)
register_migration(SCHEMA_V2)
register_migration(SCHEMA_V3)

_SELECT_CONTACTS = (
    "SELECT identity, static_key, onion_address, nickname, state, added_at, last_seen,"
    " auth_private, auth_public, invite_secret, offer_auth_private FROM contacts"
)
_UPSERT_CONTACT = (
    "INSERT OR REPLACE INTO contacts (identity, static_key, onion_address, nickname, state,"
    " added_at, last_seen, auth_private, auth_public, invite_secret, offer_auth_private)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class ContactState(enum.Enum):
    PENDING = "pending"  # invite added; no authenticated link yet
    PAIRED = "paired"  # at least one authenticated link happened


@dataclass(frozen=True)
class Contact:
    """A peer this node talks to. Keys are raw bytes; private halves are kept out of repr."""

    identity: bytes
    static_key: bytes
    onion_address: str
    nickname: str | None
    state: ContactState
    added_at: int
    last_seen: int | None = None
    #: x25519 client-auth private key to reach their onion service (they require client auth)
    auth_private: bytes | None = field(default=None, repr=False)
    #: x25519 client-auth public key we authorized for them on our onion service
    auth_public: bytes | None = None
    #: invitee side, while pending: the invite secret to present on the first link
    invite_secret: bytes | None = field(default=None, repr=False)
    #: invitee side, while pending: private half of ``auth_public``, to hand over on the first link
    offer_auth_private: bytes | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        """The identity key in hex (64 digits)."""
        return self.identity.hex()

    @property
    def short_id(self) -> str:
        return self.identity.hex()[:16]


@dataclass(frozen=True)
class PendingInvite:
    """An invite this node made, as stored (the secret itself is not kept)."""

    secret_hash: bytes
    created: int
    expires: int
    used_at: int | None
    auth_public: bytes | None
    label: str | None


@dataclass(frozen=True)
class Revocation:
    """Client-authorization entries to undo after a contact or invite goes away.

    ``authorized_public``: delete its ``.auth`` file (or drop it from ADD_ONION's
    ClientAuthV3 list). ``client_auth_onion``: delete that onion's
    ``.auth_private`` file (or ONION_CLIENT_AUTH_REMOVE it).
    """

    authorized_public: bytes | None = None
    client_auth_onion: str | None = None

    @property
    def authorized_name(self) -> str | None:
        """The client name (and ``.auth`` file stem) of ``authorized_public``."""
        return None if self.authorized_public is None else client_name(self.authorized_public)


def secret_hash(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


class ContactBook:
    """Contacts and invites of the node whose identity key is ``own_identity``."""

    def __init__(self, conn: sqlite3.Connection, own_identity: bytes) -> None:
        self._db = conn
        self._own = own_identity
        apply_migrations(conn, [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3])

    @classmethod
    def open(cls, path: Path, own_identity: bytes) -> ContactBook:
        """Open the book in the database at ``path`` (created if missing)."""
        return cls(open_db(path), own_identity)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ContactBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- inviter side ---------------------------------------------------------

    def make_invite(
        self,
        signing_key: Ed25519PrivateKey,
        onion_key: bytes,
        static_key: bytes,
        *,
        now: int,
        ttl: int,
        level: Level = Level.STANDARD,
        post_quantum: bool = False,
        client_auth: bool = False,
        label: str | None = None,
        nickname: str | None = None,
    ) -> Invite:
        """A new signed invite valid for ``ttl`` seconds, recorded as pending.

        With ``client_auth`` the invite gets a client-auth key pair: the private half
        goes into the invite, the public half is kept to authorize. The pair is taken
        from the pool of keys tor already authorizes (:meth:`fill_auth_pool`), so the
        invite needs no tor restart; a fresh pair is made when the pool is empty.
        """
        if ttl <= 0:
            raise InviteError("malformed", f"an invite must be valid for some time, got {ttl} s")
        label = _check_label(label)
        auth = (self._take_pooled() or ClientAuthKey.generate()) if client_auth else None
        invite = new_invite(
            signing_key,
            onion_key,
            static_key,
            expires=now + ttl,
            level=level,
            post_quantum=post_quantum,
            nickname=nickname,
            client_auth_private=None if auth is None else auth.private,
        )
        with transaction(self._db) as db:
            db.execute(
                "INSERT INTO invites (secret_hash, created, expires, auth_public, label)"
                " VALUES (?, ?, ?, ?, ?)",
                (secret_hash(invite.secret), now, invite.expires, _public(auth), label),
            )
        return invite

    def fill_auth_pool(self, size: int, now: int) -> tuple[bytes, ...]:
        """Top the pool of pre-authorized client-auth keys up to ``size``; every pooled public key.

        The node writes each as an ``.auth`` file before its tor starts (tor reads
        authorized clients only then): the next ``size`` invites use these keys and need
        no restart. Unused pooled keys authorize nobody: only this database holds their
        private halves.
        """
        with transaction(self._db) as db:
            have = db.execute("SELECT count(*) FROM auth_pool").fetchone()[0]
            for _ in range(max(0, size - int(have))):
                key = ClientAuthKey.generate()
                db.execute(
                    "INSERT INTO auth_pool (public, private, created) VALUES (?, ?, ?)",
                    (key.public, key.private, now),
                )
            rows = db.execute("SELECT public FROM auth_pool ORDER BY created, public").fetchall()
        return tuple(r[0] for r in rows)

    def _take_pooled(self) -> ClientAuthKey | None:
        with transaction(self._db) as db:
            row = db.execute(
                "SELECT public, private FROM auth_pool ORDER BY created, public LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM auth_pool WHERE public = ?", (row[0],))
        return ClientAuthKey(row[1])

    def redeem(
        self,
        secret: bytes,
        remote_identity: bytes,
        remote_static: bytes,
        remote_onion: str,
        now: int,
        *,
        client_auth_private: bytes | None = None,
        nickname: str | None = None,
    ) -> Contact:
        """Use up the invite with ``secret`` and pair the peer that presented it.

        ``client_auth_private``: the key the peer gave us to reach its onion
        service (if it requires client auth). Refuses unknown, used and expired
        secrets and this node's own identity.
        """
        _check_key("remote identity", remote_identity)
        _check_key("remote static key", remote_static)
        onion = normalize_onion_address(remote_onion)
        if remote_identity == self._own:
            raise InviteError("self", "a node cannot redeem its own invite")
        with transaction(self._db) as db:
            pending = self._claim_invite(db, secret, remote_identity, now)
            existing = self._get(db, remote_identity)
            if existing is not None and existing.state is ContactState.PAIRED:
                raise InviteError("duplicate", f"{existing.short_id} is already a contact")
            fields = _paired_from(pending, existing, now, nickname, client_auth_private)
            db.execute(
                _UPSERT_CONTACT,
                (
                    remote_identity,
                    remote_static,
                    onion,
                    fields.nickname,
                    ContactState.PAIRED.value,
                    fields.added_at,
                    now,
                    fields.auth_private,
                    fields.auth_public,
                    fields.invite_secret,
                    fields.offer_auth_private,
                ),
            )
            return self._require(db, remote_identity)

    def _claim_invite(
        self, db: sqlite3.Connection, secret: bytes, who: bytes, now: int
    ) -> PendingInvite:
        row = db.execute(
            "SELECT secret_hash, created, expires, used_at, auth_public, label FROM invites"
            " WHERE secret_hash = ?",
            (secret_hash(secret),),
        ).fetchone()
        if row is None:
            raise InviteError("unknown", "no invite of this node has that secret")
        pending = PendingInvite(*row)
        if pending.used_at is not None:
            raise InviteError("reused", "this invite was already used")
        if now >= pending.expires:
            raise InviteError("expired", "this invite expired before it was used")
        db.execute(
            "UPDATE invites SET used_at = ?, used_by = ? WHERE secret_hash = ?",
            (now, who, pending.secret_hash),
        )
        return pending

    def pending_invites(self) -> tuple[PendingInvite, ...]:
        """Every invite this node made that is still stored, oldest first."""
        with map_exceptions(SQL_ERRORS):
            rows = self._db.execute(
                "SELECT secret_hash, created, expires, used_at, auth_public, label FROM invites"
                " ORDER BY created, secret_hash"
            ).fetchall()
        return tuple(PendingInvite(*r) for r in rows)

    def prune_invites(self, now: int) -> tuple[Revocation, ...]:
        """Forget expired invites; revoke client-auth keys no contact holds any more."""
        with transaction(self._db) as db:
            rows = db.execute(
                "SELECT DISTINCT auth_public FROM invites WHERE auth_public IS NOT NULL"
                " AND (used_at IS NOT NULL OR expires <= ?) AND auth_public NOT IN"
                " (SELECT auth_public FROM contacts WHERE auth_public IS NOT NULL)",
                (now,),
            ).fetchall()
            db.execute(
                "UPDATE invites SET auth_public = NULL WHERE used_at IS NOT NULL OR expires <= ?",
                (now,),
            )
            db.execute("DELETE FROM invites WHERE expires <= ?", (now,))
            db.execute("DELETE FROM used_secrets WHERE expires <= ?", (now,))
        return tuple(Revocation(authorized_public=r[0]) for r in rows)

    def authorized_client_keys(self, now: int) -> tuple[bytes, ...]:
        """Client-auth public keys to authorize now: contacts' and unexpired unused invites'."""
        with map_exceptions(SQL_ERRORS):
            rows = self._db.execute(
                "SELECT auth_public FROM contacts WHERE auth_public IS NOT NULL UNION"
                " SELECT auth_public FROM invites WHERE auth_public IS NOT NULL"
                " AND used_at IS NULL AND expires > ? ORDER BY 1",
                (now,),
            ).fetchall()
        return tuple(r[0] for r in rows)

    # --- invitee side ---------------------------------------------------------

    def add_contact(
        self,
        invite_text: str,
        now: int,
        *,
        nickname: str | None = None,
        client_auth: bool = False,
    ) -> Contact:
        """Add the inviter of ``invite_text`` as a pending contact.

        Refuses malformed, badly signed, expired, already used and own invites, and
        inviters who are already contacts. The inviter may be of any security level:
        links take the stronger of both sides' session offers; whether the inviter
        requires the post-quantum handshake is remembered (:meth:`peer_offer`) so that
        the first dial takes it. With ``client_auth`` a key pair is made for them (from the
        pool of pre-authorized keys when it has one): we authorize the public half and offer
        the private half on the first link.
        """
        invite = decode_invite(invite_text, now)
        if invite.identity_key == self._own:
            raise InviteError("self", "this is this node's own invite")
        name = check_nickname(nickname) if nickname is not None else invite.nickname
        offer = (self._take_pooled() or ClientAuthKey.generate()) if client_auth else None
        digest = secret_hash(invite.secret)
        with transaction(self._db) as db:
            used = db.execute("SELECT 1 FROM used_secrets WHERE secret_hash = ?", (digest,))
            if used.fetchone() is not None:
                raise InviteError("reused", "this invite was already added")
            existing = self._get(db, invite.identity_key)
            if existing is not None:
                shown = existing.nickname or existing.short_id
                raise InviteError("duplicate", f"the inviter is already a contact ({shown})")
            db.execute("INSERT INTO used_secrets VALUES (?, ?, ?)", (digest, now, invite.expires))
            db.execute(
                _UPSERT_CONTACT,
                (
                    invite.identity_key,
                    invite.static_key,
                    invite.onion_address,
                    name,
                    ContactState.PENDING.value,
                    now,
                    None,
                    invite.client_auth_private,
                    _public(offer),
                    invite.secret,
                    None if offer is None else offer.private,
                ),
            )
            self._note_offer(db, invite.identity_key, Offer(post_quantum=invite.post_quantum))
            return self._require(db, invite.identity_key)

    def mark_paired(
        self, identity: bytes, now: int, *, client_auth_private: bytes | None = None
    ) -> Contact:
        """Record the first authenticated link: paired, seen now, secret and offer dropped."""
        with transaction(self._db) as db:
            contact = self._require(db, identity)
            db.execute(
                "UPDATE contacts SET state = 'paired', last_seen = ?, invite_secret = NULL,"
                " offer_auth_private = NULL, auth_private = ? WHERE identity = ?",
                (now, client_auth_private or contact.auth_private, identity),
            )
            updated = self._require(db, identity)
        return updated

    # --- both sides -----------------------------------------------------------

    def list(self) -> tuple[Contact, ...]:
        """Every contact, by nickname (unnamed last) then identity."""
        with map_exceptions(SQL_ERRORS):
            rows = self._db.execute(
                _SELECT_CONTACTS + " ORDER BY nickname IS NULL, nickname, identity"
            ).fetchall()
        return tuple(_contact(r) for r in rows)

    def get(self, identity: bytes) -> Contact | None:
        with map_exceptions(SQL_ERRORS):
            return self._get(self._db, identity)

    def is_contact(self, identity: bytes) -> bool:
        return self.get(identity) is not None

    def find(self, id_or_nick: str) -> Contact:
        """The one contact whose nickname, hex identity or hex prefix (8+ digits) matches."""
        matches = [c for c in self.list() if c.nickname == id_or_nick]
        text = id_or_nick.strip().lower()
        if not matches and len(text) >= MIN_ID_PREFIX and _is_hex(text):
            matches = [c for c in self.list() if c.id.startswith(text)]
        if not matches:
            raise ContactError(f"no contact named or with id {id_or_nick!r}")
        if len(matches) > 1:
            ids = ", ".join(c.short_id for c in matches)
            raise ContactError(f"{id_or_nick!r} matches {len(matches)} contacts ({ids}); use an id")
        return matches[0]

    def rename(self, identity: bytes, nickname: str) -> Contact:
        """Give a contact a new nickname (checked; unique among contacts); the contact."""
        try:
            name = check_nickname(nickname)
        except InviteError as exc:
            raise ContactError(str(exc)) from None
        with transaction(self._db) as db:
            self._require(db, identity)
            for other in self.list():
                if other.nickname == name and other.identity != identity:
                    raise ContactError(f"another contact is already named {name!r}")
            db.execute("UPDATE contacts SET nickname = ? WHERE identity = ?", (name, identity))
            return self._require(db, identity)

    def peer_offer(self, identity: bytes) -> Offer | None:
        """The contact's last session offer (from its invite, then from each handshake)."""
        with map_exceptions(SQL_ERRORS):
            row = self._db.execute(
                "SELECT offer FROM peer_offers WHERE identity = ?", (identity,)
            ).fetchone()
        if row is None:
            return None
        try:
            return Offer.decode(int(row[0]))
        except HandshakeError:
            return None

    def note_offer(self, identity: bytes, offer: Offer) -> None:
        """Remember what a contact offered in its last handshake (nothing for a stranger)."""
        with transaction(self._db) as db:
            if self._get(db, identity) is not None:
                self._note_offer(db, identity, offer)

    @staticmethod
    def _note_offer(db: sqlite3.Connection, identity: bytes, offer: Offer) -> None:
        db.execute(
            "INSERT INTO peer_offers (identity, offer) VALUES (?, ?)"
            " ON CONFLICT (identity) DO UPDATE SET offer = excluded.offer",
            (identity, offer.encode()),
        )

    def touch(self, identity: bytes, now: int) -> None:
        """Record that the contact was seen at ``now``."""
        with transaction(self._db) as db:
            self._require(db, identity)
            db.execute("UPDATE contacts SET last_seen = ? WHERE identity = ?", (now, identity))

    def remove(self, identity: bytes) -> Revocation:
        """Delete a contact; what client authorization to revoke for it."""
        with transaction(self._db) as db:
            contact = self._require(db, identity)
            db.execute("DELETE FROM contacts WHERE identity = ?", (identity,))
            db.execute("DELETE FROM peer_offers WHERE identity = ?", (identity,))
            if contact.auth_public is not None:
                db.execute(
                    "UPDATE invites SET auth_public = NULL WHERE auth_public = ?",
                    (contact.auth_public,),
                )
        return revocation_for(contact)

    # --- helpers --------------------------------------------------------------

    def _get(self, db: sqlite3.Connection, identity: bytes) -> Contact | None:
        row = db.execute(_SELECT_CONTACTS + " WHERE identity = ?", (identity,)).fetchone()
        return None if row is None else _contact(row)

    def _require(self, db: sqlite3.Connection, identity: bytes) -> Contact:
        contact = self._get(db, identity)
        if contact is None:
            raise ContactError(f"no contact with id {identity.hex()[:16]}")
        return contact


def revocation_for(contact: Contact) -> Revocation:
    """What client authorization to undo when ``contact`` goes."""
    return Revocation(
        authorized_public=contact.auth_public,
        client_auth_onion=contact.onion_address if contact.auth_private else None,
    )


def _paired_from(
    pending: PendingInvite,
    existing: Contact | None,
    now: int,
    nickname: str | None,
    auth_private: bytes | None,
) -> Contact:
    """The fields a redeemed invite gives a contact (identity, keys and onion set by caller).

    A pending contact (we also added their invite) keeps its nickname, its
    client-auth keys and what it still has to present or offer; the invite's
    own client-auth key is then left to :meth:`ContactBook.prune_invites`.
    """
    if existing is None:
        existing = Contact(b"", b"", "", None, ContactState.PAIRED, now)
    keep_offer = existing.auth_public is not None
    return Contact(
        identity=existing.identity,
        static_key=existing.static_key,
        onion_address=existing.onion_address,
        nickname=nickname or existing.nickname or pending.label,
        state=ContactState.PAIRED,
        added_at=existing.added_at,
        auth_private=auth_private or existing.auth_private,
        auth_public=existing.auth_public if keep_offer else pending.auth_public,
        invite_secret=existing.invite_secret,
        offer_auth_private=existing.offer_auth_private if keep_offer else None,
    )


def _contact(row: tuple[Any, ...]) -> Contact:
    values = list(row)
    values[4] = ContactState(values[4])
    return Contact(*values)


def _public(key: ClientAuthKey | None) -> bytes | None:
    return None if key is None else key.public


def _check_key(what: str, key: bytes) -> None:
    if len(key) != 32:
        raise ContactError(f"{what} must be 32 bytes, got {len(key)}")


def _check_label(label: str | None) -> str | None:
    if label is None:
        return None
    if not 1 <= len(label) <= MAX_LABEL_LEN or not label.isprintable():
        raise InviteError("malformed", f"a label is 1 to {MAX_LABEL_LEN} printable characters")
    return label


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
