"""Protocol names (Noise spec rev 34, section 8): ``Noise_<pattern>_<dh>_<cipher>_<hash>``."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import HandshakeError
from gateway.session.noise.cipher import CIPHERS, ChaChaPoly
from gateway.session.noise.hash import HASHES, HashFunction
from gateway.session.noise.patterns import HandshakePattern, parse_pattern

DH_NAMES = ("25519",)


@dataclass(frozen=True)
class NoiseProtocol:
    """A concrete Noise protocol: pattern plus DH, cipher and hash functions."""

    name: str
    pattern: HandshakePattern
    cipher: type[ChaChaPoly]
    hash_fn: HashFunction

    @classmethod
    def from_name(cls, name: str) -> NoiseProtocol:
        """Parse e.g. ``Noise_XK_25519_ChaChaPoly_SHA256``; HandshakeError if unsupported."""
        parts = name.split("_")
        if len(parts) != 5 or parts[0] != "Noise":
            raise HandshakeError(f"not a Noise protocol name: {name!r}")
        _, pattern, dh_name, cipher_name, hash_name = parts
        if dh_name not in DH_NAMES:
            raise HandshakeError(f"unsupported DH function {dh_name!r}")
        if cipher_name not in CIPHERS:
            raise HandshakeError(f"unsupported cipher function {cipher_name!r}")
        if hash_name not in HASHES:
            raise HandshakeError(f"unsupported hash function {hash_name!r}")
        return cls(name, parse_pattern(pattern), CIPHERS[cipher_name], HASHES[hash_name])
