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
from dataclasses import dataclass
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
    chain_step,
    message_key_material,
    open_sealed,
    seal,
)
from gateway.session.header import (
    DH_SIZE,
    ENCRYPTED_HEADER_SIZE,
    HEADER_SIZE,
    MAX_COUNTER,
    Header,
    decode_counters,
    decode_header,
    decrypt_header,
    encode_counters,
    encrypt_header,
)
from gateway.session.kdf_chain import kdf_ck
from gateway.session.root_chain import kdf_rk, kdf_rk_he
from gateway.session.skipped import EMPTY, SkippedKeys
from gateway.session.state_codec import Reader, Writer

#: version byte of the state blob
STATE_VERSION: Final = 1

Rng = Callable[[int], bytes]

_FLAG_HE = 0x01
_FLAG_SEND_PENDING = 0x02

# how a received header relates to the receiving chains
_CURRENT, _NEW, _OLD = 0, 1, 2


@dataclass(frozen=True)
class RatchetParams:
    """Limits and options of a ratchet session (fixed for the session's life)."""

    #: most message keys one message may make us skip in one chain
    max_skip: int = 1000
    #: most skipped message keys stored at once
    max_skipped_total: int = 2000
    #: skipped keys of chains more than this many receiving DH steps old are deleted
    max_skipped_age: int = 5
    #: encrypt headers (spec section 4)
    header_encryption: bool = False

    def __post_init__(self) -> None:
        for name in ("max_skip", "max_skipped_total", "max_skipped_age"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= MAX_COUNTER:
                raise SessionStateError(f"RatchetParams.{name} must be 0..{MAX_COUNTER}")


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


class RatchetState:
    """One side of a Double Ratchet session. Immutable by API; see the module docstring."""

    __slots__ = (
        "_ckr",
        "_cks",
        "_dhr",
        "_dhs_priv",
        "_dhs_pub",
        "_hkr",
        "_hks",
        "_next_dh",
        "_nhkr",
        "_nhks",
        "_nr",
        "_ns",
        "_params",
        "_pn",
        "_recv_step",
        "_retired",
        "_rk",
        "_rng",
        "_send_pending",
        "_skipped",
    )

    _params: RatchetParams
    _rng: Rng
    _dhs_priv: bytes
    _dhs_pub: bytes
    _dhr: bytes | None
    _rk: bytes
    _cks: bytes | None
    _ckr: bytes | None
    _ns: int
    _nr: int
    _pn: int
    _recv_step: int
    _hks: bytes | None
    _hkr: bytes | None
    _nhks: bytes | None
    _nhkr: bytes | None
    _send_pending: bool
    _next_dh: bytes | None
    _retired: tuple[bytes, ...]
    _skipped: SkippedKeys

    # --- construction -------------------------------------------------------

    @classmethod
    def _blank(cls, params: RatchetParams, rng: Rng | None, root_key: bytes) -> RatchetState:
        st = object.__new__(cls)
        st._params = params
        st._rng = rng or os.urandom
        st._dhr = None
        st._rk = _check_key("sk", root_key)
        st._cks = st._ckr = None
        st._ns = st._nr = st._pn = st._recv_step = 0
        st._hks = st._hkr = st._nhks = st._nhkr = None
        st._send_pending = False
        st._next_dh = None
        st._retired = ()
        st._skipped = EMPTY
        return st

    def _set_dhs(self, private: bytes) -> None:
        self._dhs_priv = _check_key("ratchet private key", private)
        self._dhs_pub = bytes(crypto_scalarmult_base(private))

    def _generate_dh(self) -> None:
        private = self._next_dh if self._next_dh is not None else self._rng(32)
        self._next_dh = None
        self._set_dhs(private)

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
        st._next_dh = ratchet_private
        st._generate_dh()
        st._dhr = _check_key("remote_ratchet_public", remote_ratchet_public)
        try:
            dh_out = _dh(st._dhs_priv, st._dhr)
        except DecryptError as exc:
            raise SessionStateError(str(exc)) from None
        if params.header_encryption:
            st._rk, st._cks, st._nhks = kdf_rk_he(sk, dh_out)
            st._hks, st._nhkr = hka, nhkb
        else:
            st._rk, st._cks = kdf_rk(sk, dh_out)
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
        st._set_dhs(own_ratchet_private)
        st._nhks, st._nhkr = nhkb, hka
        return st

    def _copy(self) -> RatchetState:
        st = object.__new__(RatchetState)
        st._params = self._params
        st._rng = self._rng
        st._dhs_priv = self._dhs_priv
        st._dhs_pub = self._dhs_pub
        st._dhr = self._dhr
        st._rk = self._rk
        st._cks = self._cks
        st._ckr = self._ckr
        st._ns = self._ns
        st._nr = self._nr
        st._pn = self._pn
        st._recv_step = self._recv_step
        st._hks = self._hks
        st._hkr = self._hkr
        st._nhks = self._nhks
        st._nhkr = self._nhkr
        st._send_pending = self._send_pending
        st._next_dh = self._next_dh
        st._retired = self._retired
        st._skipped = self._skipped
        return st

    def with_next_dh_private(self, private: bytes) -> RatchetState:
        """A copy whose next generated ratchet key pair uses ``private`` (for test vectors)."""
        st = self._copy()
        st._next_dh = _check_key("next ratchet private key", private)
        return st

    def with_rng(self, rng: Rng | None) -> RatchetState:
        """A copy that draws randomness from ``rng`` (``None``: os.urandom)."""
        st = self._copy()
        st._rng = rng or os.urandom
        return st

    # --- properties -----------------------------------------------------------

    @property
    def params(self) -> RatchetParams:
        return self._params

    @property
    def can_send(self) -> bool:
        """False for a responder that has not yet received the first message."""
        return self._cks is not None or self._send_pending

    @property
    def ratchet_public(self) -> bytes:
        """The current own ratchet public key."""
        return self._dhs_pub

    @property
    def skipped_count(self) -> int:
        """How many skipped message keys are stored."""
        return len(self._skipped)

    @staticmethod
    def overhead(params: RatchetParams) -> int:
        """Bytes a message adds to its plaintext: header (clear or encrypted) + tag."""
        size = ENCRYPTED_HEADER_SIZE if params.header_encryption else HEADER_SIZE
        return size + TAG_SIZE

    # --- sending ----------------------------------------------------------------

    def _ratchet_send(self) -> None:
        """The sending half of a DH ratchet step (deferred until the next send)."""
        assert self._dhr is not None
        self._pn, self._ns = self._ns, 0
        self._hks = self._nhks
        self._generate_dh()
        dh_out = _dh(self._dhs_priv, self._dhr)
        if self._params.header_encryption:
            self._rk, self._cks, self._nhks = kdf_rk_he(self._rk, dh_out)
        else:
            self._rk, self._cks = kdf_rk(self._rk, dh_out)
        self._send_pending = False

    def encrypt(self, plaintext: bytes, ad: bytes) -> tuple[RatchetState, bytes]:
        """Encrypt one message; returns ``(new_state, message)``; ``self`` is unchanged."""
        if not self.can_send:
            raise SessionStateError("the responder cannot send before it has received a message")
        st = self._copy()
        if st._send_pending:
            st._ratchet_send()
        if st._ns >= MAX_COUNTER:
            raise SessionStateError("sending chain exhausted; re-establish the session")
        assert st._cks is not None
        st._cks, key, nonce = chain_step(st._cks)
        header = st._dhs_pub + encode_counters(st._pn, st._ns)
        if st._params.header_encryption:
            assert st._hks is not None
            header = encrypt_header(st._hks, header, ad, st._rng(HEADER_NONCE_SIZE))
        st._ns += 1
        return st, header + seal(key, nonce, plaintext, ad + header)

    # --- receiving ----------------------------------------------------------------

    def _classify(self, hbytes: bytes, ad: bytes) -> tuple[Header, int, bytes]:
        """Read the header: ``(header, _CURRENT | _NEW | _OLD, chain id)``."""
        if not self._params.header_encryption:
            header = decode_header(hbytes)
            dh = header.dh
            if dh == self._dhr:
                return header, _CURRENT, dh
            if self._skipped.chain(dh) is not None or dh in self._retired:
                return header, _OLD, dh
            return header, _NEW, dh
        if self._hkr is not None:
            found = decrypt_header(self._hkr, hbytes, ad)
            if found is not None:
                return found, _CURRENT, self._hkr
        if self._nhkr is not None:
            found = decrypt_header(self._nhkr, hbytes, ad)
            if found is not None:
                return found, _NEW, self._nhkr
        for hk in (*self._skipped, *self._retired):
            if hk != self._hkr:
                found = decrypt_header(hk, hbytes, ad)
                if found is not None:
                    return found, _OLD, hk
        raise DecryptError("no header key opens the message header")

    def decrypt(self, message: bytes, ad: bytes) -> tuple[RatchetState, bytes]:
        """Decrypt one message; returns ``(new_state, plaintext)``; ``self`` is unchanged.

        Raises DecryptError (tampered, wrong key, malformed), ReplayError (key already
        used or deleted) or TooManySkippedError (beyond the skipped-key limits).
        """
        if not self._params.header_encryption and message[:DH_SIZE] == self._dhr:
            fast = self._decrypt_next_in_chain(message, ad)
            if fast is not None:
                return fast
        hsize = ENCRYPTED_HEADER_SIZE if self._params.header_encryption else HEADER_SIZE
        if len(message) < hsize + TAG_SIZE:
            raise DecryptError(f"message of {len(message)} bytes is shorter than a header + tag")
        hbytes = message[:hsize]
        body = message[hsize:]
        aead_ad = ad + hbytes
        header, kind, chain_id = self._classify(hbytes, ad)
        if header.n >= MAX_COUNTER:
            raise DecryptError("message number out of range")
        if kind != _NEW:
            mk = self._skipped.get(chain_id, header.n)
            if mk is not None:
                plaintext = open_sealed(*message_key_material(mk), body, aead_ad)
                st = self._copy()
                st._skipped = self._skipped.without(chain_id, header.n)
                return st, plaintext
            if kind == _OLD or (self._ckr is not None and header.n < self._nr):
                raise ReplayError("message key already used or deleted")
            return self._decrypt_current(header, chain_id, body, aead_ad)
        return self._decrypt_new_chain(header, chain_id, body, aead_ad)

    def _decrypt_next_in_chain(
        self, message: bytes, ad: bytes
    ) -> tuple[RatchetState, bytes] | None:
        """Fast path (clear headers): the next message of the current receiving chain.

        Returns ``None`` when the message is anything else (the general path decides).
        """
        ck = self._ckr
        if ck is None or len(message) < HEADER_SIZE + TAG_SIZE:
            return None
        n = decode_counters(message)[1]
        if n != self._nr or n >= MAX_COUNTER:
            return None
        ck, key, nonce = chain_step(ck)
        plaintext = open_sealed(key, nonce, message[HEADER_SIZE:], ad + message[:HEADER_SIZE])
        st = self._copy()
        st._ckr, st._nr = ck, n + 1
        return st, plaintext

    def _check_skip(self, count: int, stored: int) -> None:
        if count > self._params.max_skip:
            raise TooManySkippedError(
                f"message skips {count} keys in one chain (max_skip {self._params.max_skip})"
            )
        if stored > self._params.max_skipped_total:
            raise TooManySkippedError(
                f"{stored} skipped keys would be stored "
                f"(max_skipped_total {self._params.max_skipped_total})"
            )

    def _decrypt_current(
        self, header: Header, chain_id: bytes, body: bytes, aead_ad: bytes
    ) -> tuple[RatchetState, bytes]:
        ck = self._ckr
        if ck is None:
            raise DecryptError("no receiving chain for this ratchet key")
        skipped = self._skipped
        gap = header.n - self._nr
        if gap:
            self._check_skip(gap, len(skipped) + gap)
            keys, ck = _skip_chain(ck, self._nr, header.n)
            skipped = skipped.with_keys(chain_id, self._recv_step, keys)
        ck, key, nonce = chain_step(ck)
        plaintext = open_sealed(key, nonce, body, aead_ad)
        st = self._copy()
        st._ckr, st._nr = ck, header.n + 1
        st._skipped = skipped
        return st, plaintext

    def _decrypt_new_chain(
        self, header: Header, new_id: bytes, body: bytes, aead_ad: bytes
    ) -> tuple[RatchetState, bytes]:
        p = self._params
        old_gap = max(0, header.pn - self._nr) if self._ckr is not None else 0
        self._check_skip(old_gap, 0)
        self._check_skip(header.n, 0)
        new_step = self._recv_step + 1
        old_id = self._dhr if not p.header_encryption else self._hkr
        skipped = self._skipped
        if old_gap:
            assert self._ckr is not None and old_id is not None
            old_keys, _ = _skip_chain(self._ckr, self._nr, header.pn)
            skipped = skipped.with_keys(old_id, self._recv_step, old_keys)
        skipped = skipped.pruned(new_step - p.max_skipped_age)
        self._check_skip(0, len(skipped) + header.n)
        dh_out = _dh(self._dhs_priv, header.dh)
        nhkr: bytes | None = None
        if p.header_encryption:
            rk, ckr, nhkr = kdf_rk_he(self._rk, dh_out)
        else:
            rk, ckr = kdf_rk(self._rk, dh_out)
        new_keys, ckr = _skip_chain(ckr, 0, header.n)
        ckr, key, nonce = chain_step(ckr)
        plaintext = open_sealed(key, nonce, body, aead_ad)
        st = self._copy()
        if old_id is not None:
            st._retired = (*self._retired, old_id)[-max(1, p.max_skipped_age) :]
        st._skipped = skipped.with_keys(new_id, new_step, new_keys)
        st._dhr = header.dh
        st._rk, st._ckr, st._nr = rk, ckr, header.n + 1
        st._recv_step = new_step
        if p.header_encryption:
            st._hkr, st._nhkr = self._nhkr, nhkr
        st._send_pending = True
        return st, plaintext

    # --- serialization ----------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The versioned state blob (secret: holds every key of the session)."""
        p = self._params
        out = Writer()
        out.u8(STATE_VERSION)
        flags = _FLAG_HE if p.header_encryption else 0
        if self._send_pending:
            flags |= _FLAG_SEND_PENDING
        out.u8(flags)
        out.u32(p.max_skip)
        out.u32(p.max_skipped_total)
        out.u32(p.max_skipped_age)
        out.raw(self._dhs_priv, 32)
        out.opt32(self._dhr)
        out.raw(self._rk, 32)
        out.opt32(self._cks)
        out.opt32(self._ckr)
        for value in (self._ns, self._nr, self._pn, self._recv_step):
            out.u32(value)
        for key in (self._hks, self._hkr, self._nhks, self._nhkr, self._next_dh):
            out.opt32(key)
        out.u16(len(self._retired))
        for chain_id in self._retired:
            out.raw(chain_id, 32)
        self._skipped.write(out)
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
        st._set_dhs(dhs_priv)
        st._dhr = dhr
        st._cks, st._ckr = src.opt32(), src.opt32()
        st._ns, st._nr, st._pn, st._recv_step = src.u32(), src.u32(), src.u32(), src.u32()
        st._hks, st._hkr, st._nhks, st._nhkr = src.opt32(), src.opt32(), src.opt32(), src.opt32()
        st._next_dh = src.opt32()
        st._retired = tuple(src.raw(32) for _ in range(src.u16()))
        st._skipped = SkippedKeys.read(src)
        src.finish()
        st._send_pending = bool(flags & _FLAG_SEND_PENDING)
        st._validate()
        return st

    def _validate(self) -> None:
        """Reject blobs whose fields contradict each other."""
        he = self._params.header_encryption
        if self._send_pending and self._dhr is None:
            raise SessionStateError("ratchet state: send ratchet pending without a remote key")
        if self._ckr is not None and self._dhr is None:
            raise SessionStateError("ratchet state: receiving chain without a remote key")
        if not he and any(k is not None for k in (self._hks, self._hkr, self._nhks, self._nhkr)):
            raise SessionStateError("ratchet state: header keys without header encryption")
        if he and (self._nhks is None or self._nhkr is None):
            raise SessionStateError("ratchet state: header encryption without next header keys")
        if he and self._cks is not None and self._hks is None:
            raise SessionStateError("ratchet state: sending chain without a header key")
        if len(self._dhs_pub) != DH_SIZE:
            raise SessionStateError("ratchet state: bad own ratchet key")
