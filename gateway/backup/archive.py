"""The encrypted archive: header, XChaCha20-Poly1305 ciphertext, checksum (sans-I/O).

Layout (all integers big-endian)::

    header (64) = magic "GWBACKUP" (8) | u8 format version (1) | u8 kdf (1: argon2id)
                  | u8 aead (1: XChaCha20-Poly1305-IETF) | u8 reserved (0)
                  | u32 opslimit | u64 memlimit | salt (16) | nonce (24)
    ciphertext    = AEAD(key, nonce, plaintext, associated data = header)
    checksum (32) = BLAKE2b-256(header | ciphertext)

The unkeyed checksum tells damage (a flipped byte, a truncated copy) from a
wrong passphrase; the AEAD tag alone guarantees integrity and authenticity.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass

import nacl.exceptions
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_ABYTES,
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
)

from gateway.backup.kdf import MODERATE, SALT_BYTES, KdfParams, derive_key
from gateway.errors import BackupError, CorruptArchiveError, WrongPassphraseError

MAGIC = b"GWBACKUP"
FORMAT_VERSION = 1
KDF_ARGON2ID = 1
AEAD_XCHACHA20POLY1305 = 1
NONCE_BYTES = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
TAG_BYTES = crypto_aead_xchacha20poly1305_ietf_ABYTES
CHECKSUM_BYTES = 32
_HEADER = struct.Struct(f"!8sBBBBIQ{SALT_BYTES}s{NONCE_BYTES}s")
HEADER_BYTES = _HEADER.size
MIN_ARCHIVE_BYTES = HEADER_BYTES + TAG_BYTES + CHECKSUM_BYTES


@dataclass(frozen=True)
class Header:
    """The clear part of an archive: how to derive the key, and the AEAD nonce."""

    kdf: KdfParams
    salt: bytes
    nonce: bytes
    version: int = FORMAT_VERSION

    def encode(self) -> bytes:
        return _HEADER.pack(
            MAGIC, self.version, KDF_ARGON2ID, AEAD_XCHACHA20POLY1305, 0,
            self.kdf.opslimit, self.kdf.memlimit, self.salt, self.nonce,
        )  # fmt: skip


def decode_header(data: bytes) -> Header:
    """The header at the start of ``data``: magic and version first, then the rest."""
    if len(data) < len(MAGIC) + 1 or data[: len(MAGIC)] != MAGIC:
        raise CorruptArchiveError("not a gateway backup (bad magic)")
    if data[len(MAGIC)] != FORMAT_VERSION:
        raise CorruptArchiveError(
            f"unsupported backup format version {data[len(MAGIC)]} (this gateway reads"
            f" {FORMAT_VERSION})"
        )
    if len(data) < MIN_ARCHIVE_BYTES:
        raise CorruptArchiveError(f"truncated backup ({len(data)} bytes)")
    _, version, kdf, aead, reserved, ops, mem, salt, nonce = _HEADER.unpack_from(data)
    if kdf != KDF_ARGON2ID or aead != AEAD_XCHACHA20POLY1305 or reserved:
        raise CorruptArchiveError(f"unknown kdf {kdf}, aead {aead} or reserved byte {reserved}")
    return Header(KdfParams(ops, mem), salt, nonce, version)


def checksum(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=CHECKSUM_BYTES).digest()


def seal(plaintext: bytes, passphrase: bytes, kdf: KdfParams = MODERATE) -> bytes:
    """The archive of ``plaintext`` under ``passphrase`` (fresh salt and nonce)."""
    if not passphrase:
        raise BackupError("an empty passphrase is not allowed")
    kdf.check()
    header = Header(kdf, os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)).encode()
    key = derive_key(passphrase, header_salt(header), kdf)
    body = header + crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, header, header[-NONCE_BYTES:], key
    )
    return body + checksum(body)


def header_salt(header: bytes) -> bytes:
    start = HEADER_BYTES - NONCE_BYTES - SALT_BYTES
    return header[start : start + SALT_BYTES]


def check_intact(data: bytes) -> Header:
    """The header of an undamaged archive; CorruptArchiveError otherwise (no key needed)."""
    header = decode_header(data)
    body, digest = data[:-CHECKSUM_BYTES], data[-CHECKSUM_BYTES:]
    if checksum(body) != digest:
        raise CorruptArchiveError("checksum mismatch: the backup is damaged or truncated")
    header.kdf.check()
    return header


def open_archive(data: bytes, passphrase: bytes) -> bytes:
    """The plaintext of an archive; WrongPassphraseError if the key does not open it."""
    header = check_intact(data)
    key = derive_key(passphrase, header.salt, header.kdf)
    aad = data[:HEADER_BYTES]
    try:
        plaintext: bytes = crypto_aead_xchacha20poly1305_ietf_decrypt(
            data[HEADER_BYTES:-CHECKSUM_BYTES], aad, header.nonce, key
        )
    except nacl.exceptions.CryptoError:
        raise WrongPassphraseError(
            "wrong passphrase (or an archive altered together with its checksum)"
        ) from None
    return plaintext
