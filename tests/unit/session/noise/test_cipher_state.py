"""CipherState and SymmetricState behaviour beyond the vectors."""

from __future__ import annotations

import pytest

from gateway.errors import DecryptError, SessionStateError
from gateway.session.noise.cipher import MAX_NONCE, ChaChaPoly
from gateway.session.noise.cipher_state import CipherState
from gateway.session.noise.hash import BLAKE2B, SHA256
from gateway.session.noise.symmetric_state import SymmetricState

KEY = bytes(range(32))


def test_without_a_key_plaintext_passes_through() -> None:
    cs = CipherState()
    assert not cs.has_key()
    assert cs.encrypt_with_ad(b"ad", b"text") == b"text"
    assert cs.decrypt_with_ad(b"ad", b"text") == b"text"


def test_nonce_advances_only_on_success() -> None:
    send, recv = CipherState(KEY), CipherState(KEY)
    first = send.encrypt_with_ad(b"", b"one")
    assert send.n == 1
    with pytest.raises(DecryptError):
        recv.decrypt_with_ad(b"", first[:-1] + bytes([first[-1] ^ 1]))
    assert recv.n == 0
    assert recv.decrypt_with_ad(b"", first) == b"one" and recv.n == 1
    with pytest.raises(DecryptError):
        recv.decrypt_with_ad(b"", b"short")


def test_nonce_exhaustion_and_rekey() -> None:
    cs = CipherState(KEY, MAX_NONCE)
    with pytest.raises(SessionStateError):
        cs.encrypt_with_ad(b"", b"x")
    cs.rekey()
    assert cs.k == ChaChaPoly.encrypt(KEY, MAX_NONCE, b"", bytes(32))[:32] != KEY


def test_copy_is_independent() -> None:
    cs = CipherState(KEY)
    clone = cs.copy()
    cs.encrypt_with_ad(b"", b"x")
    assert clone.n == 0 and cs.n == 1


def test_protocol_name_longer_than_hashlen_is_hashed() -> None:
    name = b"Noise_XXpsk3+psk0_25519_ChaChaPoly_SHA256"
    assert len(name) > SHA256.hashlen
    assert SymmetricState.initialize(name, SHA256).h == SHA256.hash(name)
    short = SymmetricState.initialize(b"Noise_NN", BLAKE2B)
    assert short.h == b"Noise_NN" + bytes(56) and short.ck == short.h


def test_hkdf_output_count() -> None:
    with pytest.raises(ValueError):
        SHA256.hkdf(bytes(32), b"", 4)
    one, two, three = SHA256.hkdf(bytes(32), b"ikm", 3)
    assert (one, two) == SHA256.hkdf(bytes(32), b"ikm", 2)
    assert len({one, two, three}) == 3
