"""The Double Ratchet (Signal specification, rev. 1 2016 / rev. 4 2025), optionally with
header encryption (spec section 4). Sans-I/O: bytes in, bytes and a new state out.

Algorithms (spec section 5.2 choices)
-------------------------------------
* DH: X25519 (libsodium through PyNaCl). GENERATE_DH takes 32 bytes from the
  injected ``rng`` (or the key set with :meth:`RatchetState.with_next_dh_private`).
  Randomness used: 32 bytes per new ratchet key, 24 per header nonce (HE only).
* KDF_RK / KDF_RK_HE: :mod:`gateway.session.root_chain` (HKDF-SHA256, salt = root key).
* KDF_CK: :mod:`gateway.session.kdf_chain` (HMAC-SHA256 with 0x01 / 0x02).
* ENCRYPT: :mod:`gateway.session.aead` (per-message ChaCha20-Poly1305 key and nonce
  from HKDF-Expand-SHA256 of the message-key seed, label MESSAGE_INFO).
* HENCRYPT: XChaCha20-Poly1305 with a random 24-byte nonce carried in the message.

Wire format of one message (see :mod:`gateway.session.header`)::

    without header encryption:  dh(32) | pn(4) | n(4) | ciphertext | tag(16)
    with header encryption:     nonce(24) | enc(dh|pn|n)(40) | htag(16) | ciphertext | tag(16)

The message AEAD's associated data is ``ad || header-bytes`` (the clear header, or
the whole 80-byte encrypted header); the header AEAD's associated data is ``ad``.
:meth:`RatchetState.overhead` is 56 bytes (clear headers) or 96 bytes (encrypted).

Initialisation follows the spec: the initiator ("Alice") knows the responder's
ratchet public key and can send at once; the responder ("Bob") can send only after
it has decrypted the first message (before that, :meth:`RatchetState.encrypt`
raises :class:`~gateway.errors.SessionStateError`). With header encryption both
sides pass the two shared header keys ``shared_hka`` (Alice's first sending header
key) and ``shared_nhkb`` (Bob's first next-header key).

Deviation in timing only: when a message carries a new ratchet key, the receiving
half of the DH ratchet step runs at once and the sending half (new key pair, new
sending chain, PN := Ns, HKs := NHKs) runs at the next :meth:`encrypt`. The messages
on the wire are the ones the spec produces; the new key pair is drawn from ``rng``
when the next message is sent rather than when the previous one arrived.

Skipped message keys (:mod:`gateway.session.skipped`) obey :class:`RatchetParams`:
at most ``max_skip`` new keys per chain in one message, at most ``max_skipped_total``
stored, and keys from chains more than ``max_skipped_age`` receiving DH steps old
are deleted. A message beyond these raises
:class:`~gateway.errors.TooManySkippedError` and stores nothing.

Errors and state: :meth:`encrypt` and :meth:`decrypt` never change ``self``; they
return a new state, which the caller must keep *instead of* the old one. A message
is processed on a copy that is returned only on success; on any error the caller
still holds the unchanged old state. Tampering raises
:class:`~gateway.errors.DecryptError`; a message whose key was already used or
deleted (``n`` below the receiving counter of its chain, or a chain retired within
the last ``max(1, max_skipped_age)`` steps, and not among the skipped keys) raises
:class:`~gateway.errors.ReplayError`; older replays fail as DecryptError.

Never reuse a key: a state must be used once. Restoring an older copy (an old
:meth:`to_bytes` blob, a backup) and sending with it reuses message keys and
nonces, which breaks confidentiality; after a restore that may be stale the session
must be re-established with a new handshake.

State blob (:meth:`to_bytes`, version ``STATE_VERSION`` = 1, integers big-endian)::

    u8 version | u8 flags (bit0 header_encryption, bit1 send ratchet pending)
    u32 max_skip | u32 max_skipped_total | u32 max_skipped_age
    dhs_private(32) | opt32 dhr | rk(32) | opt32 cks | opt32 ckr
    u32 ns | u32 nr | u32 pn | u32 recv_step
    opt32 hks | opt32 hkr | opt32 nhks | opt32 nhkr | opt32 next_dh_private
    u16 count | retired chain ids (32 each) | skipped-key store (see skipped.py)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from nacl.exceptions import CryptoError

from gateway.errors import (
    DecryptError,
    ReplayError,
    SessionStateError,
    TooManySkippedError,
    VersionError,
)
from gateway.session.aead import (
    HEADER_NONCE_SIZE,
    TAG_SIZE,
    open_message,
    open_next,
    seal_next,
)
from gateway.session.header import (
    DH_SIZE,
    ENCRYPTED_HEADER_SIZE,
    HEADER_SIZE,
    MAX_COUNTER,
    N_OFFSET,
    Header,
    decode_header,
    decrypt_header,
    encrypt_header,
    pack_counters,
    unpack_n,
)
from gateway.session.kdf_chain import kdf_ck
from gateway.session.options import RatchetParams as RatchetParams
from gateway.session.root_chain import kdf_rk, kdf_rk_he
from gateway.session.skipped import EMPTY, SkippedKeys
from gateway.session.state_codec import Reader, Writer

#: version byte of the state blob
STATE_VERSION: Final = 1

Rng = Callable[[int], bytes]

_FLAG_HE = 0x01
_FLAG_SEND_PENDING = 0x02

#: shortest message with a clear header
_MIN_CLEAR_MESSAGE: Final = HEADER_SIZE + TAG_SIZE

# how a received header relates to the receiving chains
_CURRENT, _NEW, _OLD = 0, 1, 2


def _check_key(name: str, value: bytes | None) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise SessionStateError(f"{name} must be 32 bytes")
    return value


def _dh(private: bytes, public: bytes) -> bytes:
    """X25519(private, public); a low-order public key (all-zero output) is a DecryptError."""
    if len(public) != DH_SIZE:
        raise DecryptError("ratchet public key must be 32 bytes")
    try:
        return bytes(crypto_scalarmult(private, public))
    except CryptoError:
        raise DecryptError("ratchet public key is a low-order point") from None


def _skip_chain(ck: bytes, start: int, until: int) -> tuple[dict[int, bytes], bytes]:
    keys: dict[int, bytes] = {}
    for i in range(start, until):
        ck, keys[i] = kdf_ck(ck)
    return keys, ck


class _DHState:
    """A state's DH keys, root key, header keys, skipped keys and options.

    That is, all of a :class:`RatchetState` but its two symmetric chains. Consecutive
    states of one chain share it; a state that changes any of it first takes its own
    copy (:meth:`RatchetState._fork`).
    """

    __slots__ = (
        "dhr",
        "dhs_priv",
        "dhs_pub",
        "he",
        "hkr",
        "hks",
        "next_dh",
        "nhkr",
        "nhks",
        "params",
        "pn",
        "recv_step",
        "retired",
        "rk",
        "rng",
        "send_pending",
        "skipped",
    )

    params: RatchetParams
    #: params.header_encryption
    he: bool
    rng: Rng
    dhs_priv: bytes
    dhs_pub: bytes
    dhr: bytes | None
    rk: bytes
    pn: int
    recv_step: int
    hks: bytes | None
    hkr: bytes | None
    nhks: bytes | None
    nhkr: bytes | None
    send_pending: bool
    next_dh: bytes | None
    retired: tuple[bytes, ...]
    skipped: SkippedKeys

    @classmethod
    def blank(cls, params: RatchetParams, rng: Rng | None, root_key: bytes) -> _DHState:
        d = object.__new__(cls)
        d.params = params
        d.he = params.header_encryption
        d.rng = rng or os.urandom
        d.dhr = None
        d.rk = _check_key("sk", root_key)
        d.pn = d.recv_step = 0
        d.hks = d.hkr = d.nhks = d.nhkr = None
        d.send_pending = False
        d.next_dh = None
        d.retired = ()
        d.skipped = EMPTY
        return d

    def copy(self) -> _DHState:
        d = object.__new__(_DHState)
        d.params = self.params
        d.he = self.he
        d.rng = self.rng
        d.dhs_priv = self.dhs_priv
        d.dhs_pub = self.dhs_pub
        d.dhr = self.dhr
        d.rk = self.rk
        d.pn = self.pn
        d.recv_step = self.recv_step
        d.hks = self.hks
        d.hkr = self.hkr
        d.nhks = self.nhks
        d.nhkr = self.nhkr
        d.send_pending = self.send_pending
        d.next_dh = self.next_dh
        d.retired = self.retired
        d.skipped = self.skipped
        return d

    def set_dhs(self, private: bytes) -> None:
        self.dhs_priv = _check_key("ratchet private key", private)
        self.dhs_pub = bytes(crypto_scalarmult_base(private))

    def generate_dh(self) -> None:
        private = self.next_dh if self.next_dh is not None else self.rng(32)
        self.next_dh = None
        self.set_dhs(private)


class RatchetState:
    """One side of a Double Ratchet session. Immutable by API; see the module docstring.

    The sending and receiving chain keys and counters are the state's own; the rest
    (:class:`_DHState`) is shared with the state it came from until a DH ratchet step,
    a skipped key or an option changes it, so the next message of a chain copies
    five fields.
    """

    __slots__ = ("_ckr", "_cks", "_d", "_nr", "_ns")

    _cks: bytes | None
    _ckr: bytes | None
    _ns: int
    _nr: int
    _d: _DHState

    # --- construction -------------------------------------------------------

    @classmethod
    def _blank(cls, params: RatchetParams, rng: Rng | None, root_key: bytes) -> RatchetState:
        st = object.__new__(cls)
        st._cks = st._ckr = None
        st._ns = st._nr = 0
        st._d = _DHState.blank(params, rng, root_key)
        return st

    @staticmethod
    def _header_keys(
        params: RatchetParams, hka: bytes | None, nhkb: bytes | None
    ) -> tuple[bytes | None, bytes | None]:
        if not params.header_encryption:
            return None, None
        return _check_key("shared_hka", hka), _check_key("shared_nhkb", nhkb)

    @classmethod
    def init_initiator(
        cls,
        sk: bytes,
        remote_ratchet_public: bytes,
        params: RatchetParams,
        *,
        shared_hka: bytes | None = None,
        shared_nhkb: bytes | None = None,
        rng: Rng | None = None,
        ratchet_private: bytes | None = None,
    ) -> RatchetState:
        """RatchetInitAlice(HE): the side that knows the peer's ratchet public key.

        ``ratchet_private`` fixes the first own ratchet key (else it comes from ``rng``).
        """
        hka, nhkb = cls._header_keys(params, shared_hka, shared_nhkb)
        st = cls._blank(params, rng, sk)
        d = st._d
        d.next_dh = ratchet_private
        d.generate_dh()
        d.dhr = _check_key("remote_ratchet_public", remote_ratchet_public)
        try:
            dh_out = _dh(d.dhs_priv, d.dhr)
        except DecryptError as exc:
            raise SessionStateError(str(exc)) from None
        if params.header_encryption:
            d.rk, st._cks, d.nhks = kdf_rk_he(sk, dh_out)
            d.hks, d.nhkr = hka, nhkb
        else:
            d.rk, st._cks = kdf_rk(sk, dh_out)
        return st

    @classmethod
    def init_responder(
        cls,
        sk: bytes,
        own_ratchet_private: bytes,
        params: RatchetParams,
        *,
        shared_hka: bytes | None = None,
        shared_nhkb: bytes | None = None,
        rng: Rng | None = None,
    ) -> RatchetState:
        """RatchetInitBob(HE): the side whose ratchet public key the initiator used."""
        hka, nhkb = cls._header_keys(params, shared_hka, shared_nhkb)
        st = cls._blank(params, rng, sk)
        st._d.set_dhs(own_ratchet_private)
        st._d.nhks, st._d.nhkr = nhkb, hka
        return st

    def _copy(self) -> RatchetState:
        """A new state that shares ``_d``: only its chains and counters may change."""
        st = object.__new__(RatchetState)
        st._cks = self._cks
        st._ckr = self._ckr
        st._ns = self._ns
        st._nr = self._nr
        st._d = self._d
        return st

    def _fork(self) -> tuple[RatchetState, _DHState]:
        """A new state with its own copy of ``_d`` (returned too), free to change."""
        st = self._copy()
        d = st._d = self._d.copy()
        return st, d

    def with_next_dh_private(self, private: bytes) -> RatchetState:
        """A copy whose next generated ratchet key pair uses ``private`` (for test vectors)."""
        st, d = self._fork()
        d.next_dh = _check_key("next ratchet private key", private)
        return st

    def with_rng(self, rng: Rng | None) -> RatchetState:
        """A copy that draws randomness from ``rng`` (``None``: os.urandom)."""
        st, d = self._fork()
        d.rng = rng or os.urandom
        return st

    # --- properties -----------------------------------------------------------

    @property
    def params(self) -> RatchetParams:
        return self._d.params

    @property
    def can_send(self) -> bool:
        """False for a responder that has not yet received the first message."""
        return self._cks is not None or self._d.send_pending

    @property
    def ratchet_public(self) -> bytes:
        """The current own ratchet public key."""
        return self._d.dhs_pub

    @property
    def skipped_count(self) -> int:
        """How many skipped message keys are stored."""
        return len(self._d.skipped)

    @staticmethod
    def overhead(params: RatchetParams) -> int:
        """Bytes a message adds to its plaintext: header (clear or encrypted) + tag."""
        size = ENCRYPTED_HEADER_SIZE if params.header_encryption else HEADER_SIZE
        return size + TAG_SIZE

    # --- sending ----------------------------------------------------------------

    def _ratchet_send(self) -> None:
        """The sending half of a DH ratchet step (deferred until the next send); on a fork."""
        d = self._d
        assert d.dhr is not None
        d.pn, self._ns = self._ns, 0
        d.hks = d.nhks
        d.generate_dh()
        dh_out = _dh(d.dhs_priv, d.dhr)
        if d.he:
            d.rk, self._cks, d.nhks = kdf_rk_he(d.rk, dh_out)
        else:
            d.rk, self._cks = kdf_rk(d.rk, dh_out)
        d.send_pending = False

    def encrypt(self, plaintext: bytes, ad: bytes) -> tuple[RatchetState, bytes]:
        """Encrypt one message; returns ``(new_state, message)``; ``self`` is unchanged."""
        d = self._d
        if d.send_pending:
            st, _ = self._fork()
            st._ratchet_send()
            return st.encrypt(plaintext, ad)
        cks = self._cks
        if cks is None:
            raise SessionStateError("the responder cannot send before it has received a message")
        ns = self._ns
        if ns >= MAX_COUNTER:
            raise SessionStateError("sending chain exhausted; re-establish the session")
        header = d.dhs_pub + pack_counters(d.pn, ns)
        if d.he:
            assert d.hks is not None
            header = encrypt_header(d.hks, header, ad, d.rng(HEADER_NONCE_SIZE))
        cks, sealed = seal_next(cks, plaintext, ad + header)
        # a new state sharing _d (as _copy, written out on the hot path)
        st = object.__new__(RatchetState)
        st._cks = cks
        st._ns = ns + 1
        st._ckr = self._ckr
        st._nr = self._nr
        st._d = d
        return st, header + sealed

    # --- receiving ----------------------------------------------------------------

    def _classify(self, hbytes: bytes, ad: bytes) -> tuple[Header, int, bytes]:
        """Read the header: ``(header, _CURRENT | _NEW | _OLD, chain id)``."""
        d = self._d
        if not d.he:
            header = decode_header(hbytes)
            dh = header.dh
            if dh == d.dhr:
                return header, _CURRENT, dh
            if d.skipped.chain(dh) is not None or dh in d.retired:
                return header, _OLD, dh
            return header, _NEW, dh
        if d.hkr is not None:
            found = decrypt_header(d.hkr, hbytes, ad)
            if found is not None:
                return found, _CURRENT, d.hkr
        if d.nhkr is not None:
            found = decrypt_header(d.nhkr, hbytes, ad)
            if found is not None:
                return found, _NEW, d.nhkr
        for hk in (*d.skipped, *d.retired):
            if hk != d.hkr:
                found = decrypt_header(hk, hbytes, ad)
                if found is not None:
                    return found, _OLD, hk
        raise DecryptError("no header key opens the message header")

    def decrypt(self, message: bytes, ad: bytes) -> tuple[RatchetState, bytes]:
        """Decrypt one message; returns ``(new_state, plaintext)``; ``self`` is unchanged.

        Raises DecryptError (tampered, wrong key, malformed), ReplayError (key already
        used or deleted) or TooManySkippedError (beyond the skipped-key limits).
        """
        ckr = self._ckr
        d = self._d
        if (
            ckr is not None
            and not d.he
            and len(message) >= _MIN_CLEAR_MESSAGE
            and message[:DH_SIZE] == d.dhr
            and unpack_n(message, N_OFFSET)[0] == self._nr < MAX_COUNTER
        ):
            # the next message of the current receiving chain (clear headers)
            ckr, plaintext = open_next(ckr, message[HEADER_SIZE:], ad + message[:HEADER_SIZE])
            # a new state sharing _d (as _copy, written out on the hot path)
            st = object.__new__(RatchetState)
            st._cks = self._cks
            st._ns = self._ns
            st._ckr = ckr
            st._nr = self._nr + 1
            st._d = d
            return st, plaintext
        return self._decrypt_general(message, ad)

    def _decrypt_general(self, message: bytes, ad: bytes) -> tuple[RatchetState, bytes]:
        """Any message but the next one of the current chain (or any, with header encryption)."""
        hsize = ENCRYPTED_HEADER_SIZE if self._d.he else HEADER_SIZE
        if len(message) < hsize + TAG_SIZE:
            raise DecryptError(f"message of {len(message)} bytes is shorter than a header + tag")
        hbytes = message[:hsize]
        body = message[hsize:]
        aead_ad = ad + hbytes
        header, kind, chain_id = self._classify(hbytes, ad)
        if header.n >= MAX_COUNTER:
            raise DecryptError("message number out of range")
        if kind != _NEW:
            skipped = self._d.skipped
            mk = skipped.get(chain_id, header.n)
            if mk is not None:
                plaintext = open_message(mk, body, aead_ad)
                st, d = self._fork()
                d.skipped = skipped.without(chain_id, header.n)
                return st, plaintext
            if kind == _OLD or (self._ckr is not None and header.n < self._nr):
                raise ReplayError("message key already used or deleted")
            return self._decrypt_current(header, chain_id, body, aead_ad)
        return self._decrypt_new_chain(header, chain_id, body, aead_ad)

    def _check_skip(self, count: int, stored: int) -> None:
        p = self._d.params
        if count > p.max_skip:
            raise TooManySkippedError(
                f"message skips {count} keys in one chain (max_skip {p.max_skip})"
            )
        if stored > p.max_skipped_total:
            raise TooManySkippedError(
                f"{stored} skipped keys would be stored (max_skipped_total {p.max_skipped_total})"
            )

    def _decrypt_current(
        self, header: Header, chain_id: bytes, body: bytes, aead_ad: bytes
    ) -> tuple[RatchetState, bytes]:
        ck = self._ckr
        if ck is None:
            raise DecryptError("no receiving chain for this ratchet key")
        skipped = self._d.skipped
        gap = header.n - self._nr
        if gap:
            self._check_skip(gap, len(skipped) + gap)
            keys, ck = _skip_chain(ck, self._nr, header.n)
            skipped = skipped.with_keys(chain_id, self._d.recv_step, keys)
        ck, plaintext = open_next(ck, body, aead_ad)
        if gap:
            st, d = self._fork()
            d.skipped = skipped
        else:
            st = self._copy()
        st._ckr, st._nr = ck, header.n + 1
        return st, plaintext

    def _decrypt_new_chain(
        self, header: Header, new_id: bytes, body: bytes, aead_ad: bytes
    ) -> tuple[RatchetState, bytes]:
        d = self._d
        p = d.params
        old_gap = max(0, header.pn - self._nr) if self._ckr is not None else 0
        self._check_skip(old_gap, 0)
        self._check_skip(header.n, 0)
        new_step = d.recv_step + 1
        old_id = d.dhr if not d.he else d.hkr
        skipped = d.skipped
        if old_gap:
            assert self._ckr is not None and old_id is not None
            old_keys, _ = _skip_chain(self._ckr, self._nr, header.pn)
            skipped = skipped.with_keys(old_id, d.recv_step, old_keys)
        skipped = skipped.pruned(new_step - p.max_skipped_age)
        self._check_skip(0, len(skipped) + header.n)
        dh_out = _dh(d.dhs_priv, header.dh)
        nhkr: bytes | None = None
        if d.he:
            rk, ckr, nhkr = kdf_rk_he(d.rk, dh_out)
        else:
            rk, ckr = kdf_rk(d.rk, dh_out)
        new_keys, ckr = _skip_chain(ckr, 0, header.n)
        ckr, plaintext = open_next(ckr, body, aead_ad)
        st, nd = self._fork()
        if old_id is not None:
            nd.retired = (*d.retired, old_id)[-max(1, p.max_skipped_age) :]
        nd.skipped = skipped.with_keys(new_id, new_step, new_keys)
        nd.dhr = header.dh
        nd.rk, st._ckr, st._nr = rk, ckr, header.n + 1
        nd.recv_step = new_step
        if d.he:
            nd.hkr, nd.nhkr = d.nhkr, nhkr
        nd.send_pending = True
        return st, plaintext

    # --- serialization ----------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The versioned state blob (secret: holds every key of the session)."""
        d = self._d
        p = d.params
        out = Writer()
        out.u8(STATE_VERSION)
        flags = _FLAG_HE if p.header_encryption else 0
        if d.send_pending:
            flags |= _FLAG_SEND_PENDING
        out.u8(flags)
        out.u32(p.max_skip)
        out.u32(p.max_skipped_total)
        out.u32(p.max_skipped_age)
        out.raw(d.dhs_priv, 32)
        out.opt32(d.dhr)
        out.raw(d.rk, 32)
        out.opt32(self._cks)
        out.opt32(self._ckr)
        for value in (self._ns, self._nr, d.pn, d.recv_step):
            out.u32(value)
        for key in (d.hks, d.hkr, d.nhks, d.nhkr, d.next_dh):
            out.opt32(key)
        out.u16(len(d.retired))
        for chain_id in d.retired:
            out.raw(chain_id, 32)
        d.skipped.write(out)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes, *, rng: Rng | None = None) -> RatchetState:
        """Restore a state from :meth:`to_bytes` (see the warning about stale copies)."""
        if not isinstance(blob, bytes | bytearray) or not blob:
            raise SessionStateError("empty or non-bytes ratchet state blob")
        src = Reader(bytes(blob))
        version = src.u8()
        if version != STATE_VERSION:
            raise VersionError(f"unsupported ratchet state version {version}")
        flags = src.u8()
        if flags & ~(_FLAG_HE | _FLAG_SEND_PENDING):
            raise SessionStateError(f"unknown ratchet state flags 0x{flags:02x}")
        params = RatchetParams(src.u32(), src.u32(), src.u32(), bool(flags & _FLAG_HE))
        dhs_priv = src.raw(32)
        dhr = src.opt32()
        st = cls._blank(params, rng, src.raw(32))
        d = st._d
        d.set_dhs(dhs_priv)
        d.dhr = dhr
        st._cks, st._ckr = src.opt32(), src.opt32()
        st._ns, st._nr, d.pn, d.recv_step = src.u32(), src.u32(), src.u32(), src.u32()
        d.hks, d.hkr, d.nhks, d.nhkr = src.opt32(), src.opt32(), src.opt32(), src.opt32()
        d.next_dh = src.opt32()
        d.retired = tuple(src.raw(32) for _ in range(src.u16()))
        d.skipped = SkippedKeys.read(src)
        src.finish()
        d.send_pending = bool(flags & _FLAG_SEND_PENDING)
        st._validate()
        return st

    def _validate(self) -> None:
        """Reject blobs whose fields contradict each other."""
        d = self._d
        he = d.he
        if d.send_pending and d.dhr is None:
            raise SessionStateError("ratchet state: send ratchet pending without a remote key")
        if self._ckr is not None and d.dhr is None:
            raise SessionStateError("ratchet state: receiving chain without a remote key")
        if not he and any(k is not None for k in (d.hks, d.hkr, d.nhks, d.nhkr)):
            raise SessionStateError("ratchet state: header keys without header encryption")
        if he and (d.nhks is None or d.nhkr is None):
            raise SessionStateError("ratchet state: header encryption without next header keys")
        if he and self._cks is not None and d.hks is None:
            raise SessionStateError("ratchet state: sending chain without a header key")
        if len(d.dhs_pub) != DH_SIZE:
            raise SessionStateError("ratchet state: bad own ratchet key")
