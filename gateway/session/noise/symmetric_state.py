"""SymmetricState (Noise spec rev 34, section 5.2): ck, h and a CipherState."""

from __future__ import annotations

from gateway.session.noise.cipher import KEYLEN
from gateway.session.noise.cipher_state import CipherState
from gateway.session.noise.hash import HashFunction


class SymmetricState:
    """The chaining key ``ck``, the handshake hash ``h`` and the handshake CipherState."""

    def __init__(self, hash_fn: HashFunction, ck: bytes, h: bytes, cipher: CipherState) -> None:
        self.hash_fn = hash_fn
        self.ck = ck
        self.h = h
        self.cipher_state = cipher

    @classmethod
    def initialize(cls, protocol_name: bytes, hash_fn: HashFunction) -> SymmetricState:
        """InitializeSymmetric(protocol_name)."""
        if len(protocol_name) <= hash_fn.hashlen:
            h = protocol_name + bytes(hash_fn.hashlen - len(protocol_name))
        else:
            h = hash_fn.hash(protocol_name)
        return cls(hash_fn, h, h, CipherState())

    def copy(self) -> SymmetricState:
        """An independent copy (for decrypt-on-a-copy)."""
        return SymmetricState(self.hash_fn, self.ck, self.h, self.cipher_state.copy())

    def _truncate(self, key: bytes) -> bytes:
        return key[:KEYLEN]

    def mix_key(self, input_key_material: bytes) -> None:
        """MixKey(input_key_material)."""
        self.ck, temp_k = self.hash_fn.hkdf(self.ck, input_key_material, 2)
        self.cipher_state.initialize_key(self._truncate(temp_k))

    def mix_hash(self, data: bytes) -> None:
        """MixHash(data): h = HASH(h || data)."""
        self.h = self.hash_fn.hash(self.h + data)

    def mix_key_and_hash(self, input_key_material: bytes) -> None:
        """MixKeyAndHash(input_key_material), used for "psk" tokens."""
        self.ck, temp_h, temp_k = self.hash_fn.hkdf(self.ck, input_key_material, 3)
        self.mix_hash(temp_h)
        self.cipher_state.initialize_key(self._truncate(temp_k))

    def get_handshake_hash(self) -> bytes:
        """GetHandshakeHash(): the current h."""
        return self.h

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        """EncryptAndHash(plaintext): encrypt with ad = h, then mix the ciphertext into h."""
        ciphertext = self.cipher_state.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        """DecryptAndHash(ciphertext): decrypt with ad = h, then mix the ciphertext into h."""
        plaintext = self.cipher_state.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        """Split(): the two transport CipherStates (initiator to responder first)."""
        temp_k1, temp_k2 = self.hash_fn.hkdf(self.ck, b"", 2)
        return CipherState(self._truncate(temp_k1)), CipherState(self._truncate(temp_k2))
