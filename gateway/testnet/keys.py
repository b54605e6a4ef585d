"""Identity keys for the network's nodes: ``tor-gencert`` and ``tor --list-fingerprint``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from gateway.errors import TestnetError

_HEX40 = re.compile(r"^[0-9A-F]{40}$")

#: authority certificates live this many months
CERT_LIFETIME_MONTHS = 12


def _run(argv: list[str], *, stdin: str = "", timeout: float = 60.0) -> str:
    try:
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise TestnetError(f"{argv[0]}: not found (install Debian's 'tor' package)") from exc
    except subprocess.TimeoutExpired as exc:
        raise TestnetError(f"{argv[0]} did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise TestnetError(f"{' '.join(argv[:2])} failed: {' | '.join(tail)}")
    return done.stdout


def gencert_binary(tor_binary: str) -> str:
    """``tor-gencert`` next to the tor binary, or on PATH."""
    candidate = Path(tor_binary).with_name("tor-gencert")
    return str(candidate) if candidate.is_absolute() and candidate.exists() else "tor-gencert"


def make_authority_keys(gencert: str, keys_dir: Path, address: str) -> str:
    """Create an authority's identity, signing key and certificate; return its v3ident."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert = keys_dir / "authority_certificate"
    if not cert.exists():
        _run(
            [
                gencert,
                "--create-identity-key",
                "--passphrase-fd",
                "0",
                "-i",
                str(keys_dir / "authority_identity_key"),
                "-s",
                str(keys_dir / "authority_signing_key"),
                "-c",
                str(cert),
                "-m",
                str(CERT_LIFETIME_MONTHS),
                "-a",
                address,
            ],
            stdin="\n",
        )
    for line in cert.read_text().splitlines():
        if line.startswith("fingerprint "):
            v3ident = line.split()[1].strip()
            if _HEX40.match(v3ident):
                return v3ident
    raise TestnetError(f"{cert}: no fingerprint line")


def make_relay_fingerprint(tor: str, directory: Path, nickname: str, defaults: Path) -> str:
    """Make the relay's identity keys (if needed) and return its RSA fingerprint."""
    _run(
        [
            tor,
            "--defaults-torrc",
            str(defaults),
            "--ignore-missing-torrc",
            "-f",
            str(directory / "torrc.keys"),
            "--DataDirectory",
            str(directory),
            "--Nickname",
            nickname,
            "--ORPort",
            "1",
            "--list-fingerprint",
        ]
    )
    fields = (directory / "fingerprint").read_text().split()
    fingerprint = fields[1] if len(fields) == 2 else ""
    if not _HEX40.match(fingerprint):
        raise TestnetError(f"{directory / 'fingerprint'}: unexpected content {fields!r}")
    return fingerprint
