"""The archive key: argon2id (libsodium through pynacl) of the passphrase and a salt."""

from __future__ import annotations

from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id

from gateway.errors import BackupError, CorruptArchiveError

KEY_BYTES = 32
SALT_BYTES = argon2id.SALTBYTES
#: the most an archive may ask of a restoring machine (libsodium's SENSITIVE limits)
MAX_OPSLIMIT = 16
MAX_MEMLIMIT = argon2id.MEMLIMIT_SENSITIVE


@dataclass(frozen=True)
class KdfParams:
    """argon2id's cost: passes over memory (``opslimit``) and memory in bytes (``memlimit``)."""

    opslimit: int
    memlimit: int

    def check(self) -> None:
        """Refuse costs outside libsodium's minimums and this format's maximums."""
        if not argon2id.OPSLIMIT_MIN <= self.opslimit <= MAX_OPSLIMIT:
            raise CorruptArchiveError(
                f"argon2id opslimit {self.opslimit} outside {argon2id.OPSLIMIT_MIN}..{MAX_OPSLIMIT}"
            )
        if not argon2id.MEMLIMIT_MIN <= self.memlimit <= MAX_MEMLIMIT:
            raise CorruptArchiveError(
                f"argon2id memlimit {self.memlimit} outside {argon2id.MEMLIMIT_MIN}..{MAX_MEMLIMIT}"
            )


#: the default: libsodium's MODERATE (3 passes, 256 MiB)
MODERATE = KdfParams(argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE)
#: the cheapest costs libsodium allows (tests only: no protection against guessing)
MINIMUM = KdfParams(argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)


def derive_key(passphrase: bytes, salt: bytes, params: KdfParams) -> bytes:
    """The 32-byte archive key of ``passphrase``."""
    params.check()
    if len(salt) != SALT_BYTES:
        raise CorruptArchiveError(f"argon2id salt is {SALT_BYTES} bytes, got {len(salt)}")
    try:
        key: bytes = argon2id.kdf(
            KEY_BYTES, passphrase, salt, opslimit=params.opslimit, memlimit=params.memlimit
        )
    except (nacl.exceptions.CryptoError, MemoryError) as exc:
        raise BackupError(f"argon2id failed ({params}): {exc}") from exc
    return key
