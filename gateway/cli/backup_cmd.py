"""``gateway backup FILE`` and ``gateway restore FILE``: passphrase-encrypted node archives."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Callable
from pathlib import Path

import nacl.pwhash.argon2id as argon2id

from gateway.backup.create import create_backup
from gateway.backup.kdf import MODERATE, KdfParams
from gateway.backup.restore import restore_backup
from gateway.errors import BackupError

KDF_LEVELS = {
    "interactive": KdfParams(argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE),
    "moderate": MODERATE,
    "sensitive": KdfParams(argon2id.OPSLIMIT_SENSITIVE, argon2id.MEMLIMIT_SENSITIVE),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser("backup", help="write an encrypted archive of keys, contacts, memory")
    backup.add_argument("file", type=Path, metavar="FILE", help="the archive to write")
    backup.add_argument("--force", action="store_true", help="replace an existing FILE")
    backup.add_argument(
        "--kdf", choices=sorted(KDF_LEVELS), default="moderate",
        help="argon2id cost (default: moderate, 256 MiB)",
    )  # fmt: skip
    _passphrase_option(backup)
    backup.set_defaults(func=run_backup)
    restore = sub.add_parser("restore", help="restore a node from an archive of gateway backup")
    restore.add_argument("file", type=Path, metavar="FILE", help="the archive to read")
    restore.add_argument(
        "--state-dir", type=Path, metavar="DIR",
        help="where to put the state (default: the state_dir the archived config names)",
    )  # fmt: skip
    restore.add_argument(
        "--force", action="store_true",
        help="replace an existing config and move an existing state directory aside",
    )  # fmt: skip
    _passphrase_option(restore)
    restore.set_defaults(func=run_restore)


def _passphrase_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-env", metavar="NAME",
        help="read the passphrase from this environment variable (default: prompt)",
    )  # fmt: skip


def run_backup(args: argparse.Namespace) -> int:
    passphrase = read_passphrase(args.passphrase_env, confirm=True)
    result = create_backup(
        args.config, args.file, passphrase, kdf=KDF_LEVELS[args.kdf], force=args.force
    )
    print(f"backup:  {result.path} ({result.size} bytes, {len(result.files)} files)")
    print(f"onion:   {result.onion_address}.onion")
    print("link sessions are not backed up: a restored node makes new ones")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    passphrase = read_passphrase(args.passphrase_env, confirm=False)
    result = restore_backup(
        args.file, passphrase, config_path=args.config, state_dir=args.state_dir, force=args.force
    )
    print(f"config:  {result.config_path}")
    print(f"state:   {result.state_dir}")
    print(f"onion:   {result.onion_address}.onion")
    if result.replaced is not None:
        print(f"moved the old state directory to {result.replaced}")
    print("links to contacts will re-handshake (new sessions) when the node runs")
    return 0


def read_passphrase(
    env_name: str | None,
    *,
    confirm: bool,
    prompt: Callable[[str], str] = getpass.getpass,
) -> bytes:
    """The passphrase from the environment variable ``env_name``, or asked (twice to confirm)."""
    if env_name is not None:
        value = os.environ.get(env_name)
        if not value:
            raise BackupError(f"environment variable {env_name} is not set or empty")
        return value.encode("utf-8")
    try:
        first = prompt("Backup passphrase: ")
        if confirm and prompt("Same passphrase again: ") != first:
            raise BackupError("the passphrases differ")
    except EOFError:
        raise BackupError("no passphrase given (use --passphrase-env NAME)") from None
    if not first:
        raise BackupError("an empty passphrase is not allowed")
    return first.encode("utf-8")
