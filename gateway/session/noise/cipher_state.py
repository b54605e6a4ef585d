"""CipherState (Noise spec rev 34, section 5.1): a key ``k`` and a nonce ``n``."""

from __future__ import annotations

from gateway.errors import HandshakeError, SessionStateError
from gateway.session.noise.cipher import MAX_NONCE, ChaChaPoly


class CipherState:
    """A cipher key (or none) and a 64-bit counter nonce."""

    def __init__(self, k: bytes | None = None, n: int = 0) -> None:
        self.k = k
        self.n = n

    def copy(self) -> CipherState:
        """An independent copy (for decrypt-on-a-copy)."""
        return CipherState(self.k, self.n)

    def initialize_key(self, key: bytes | None) -> None:
        """InitializeKey(key): set k and reset n to 0."""
        self.k = key
        self.n = 0

    def has_key(self) -> bool:
        """HasKey(): whether k is set."""
        return self.k is not None

    def set_nonce(self, nonce: int) -> None:
        """SetNonce(nonce)."""
        self.n = nonce

    def _next_nonce(self) -> int:
        if self.n >= MAX_NONCE:
            raise SessionStateError("the cipher nonce is exhausted; rekey or start a new session")
        return self.n

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes) -> bytes:
        """EncryptWithAd(ad, plaintext): encrypts if a key is set, else returns plaintext."""
        if self.k is None:
            return plaintext
        ciphertext = ChaChaPoly.encrypt(self.k, self._next_nonce(), ad, plaintext)
        self.n += 1
        return ciphertext

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes:
        """DecryptWithAd(ad, ciphertext); n advances only if authentication succeeds."""
        if self.k is None:
            return ciphertext
        if self.n >= MAX_NONCE:
            raise HandshakeError("the cipher nonce is exhausted")
        plaintext = ChaChaPoly.decrypt(self.k, self.n, ad, ciphertext)
        self.n += 1
        return plaintext

    def rekey(self) -> None:
        """Rekey(): replace k with REKEY(k)."""
        if self.k is not None:
            self.k = ChaChaPoly.rekey(self.k)
