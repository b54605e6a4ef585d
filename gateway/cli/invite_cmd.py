"""``gateway invite``: make a single-use invite and print it as text, link and QR code."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

from gateway.api.client import call, node_running
from gateway.config.loader import load_config
from gateway.config.schema import GatewayConfig
from gateway.contacts.client_auth import ClientAuthKey
from gateway.contacts.invite import MAX_NICKNAME_BYTES
from gateway.contacts.local import authorize, open_book
from gateway.contacts.views import DEFAULT_TTL, MAX_TTL, invite_json
from gateway.state.keys import IdentityKeys
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d{1,9})([smhd]?)")


def parse_duration(text: str) -> int:
    """Seconds of ``30m``, ``24h``, ``7d``, ``90s`` or a plain number of seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a duration like 30m, 24h or 7d, got {text!r}")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not 0 < seconds <= MAX_TTL:
        raise argparse.ArgumentTypeError(f"a duration from 1s to 30d, got {text!r}")
    return seconds


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("invite", help="make a single-use invite for a new contact")
    parser.add_argument(
        "--expires",
        type=parse_duration,
        default=DEFAULT_TTL,
        metavar="DURATION",
        help="how long the invite is valid: 30m, 24h, 7d (default 24h, at most 30d)",
    )
    parser.add_argument("--label", help="whom the invite is for; becomes their nickname here")
    parser.add_argument(
        "--nickname", help="the nickname the invitee sees for this node (default: node.name)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON (no QR code)")
    parser.add_argument("--no-qr", action="store_true", help="do not print the QR code")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if node_running(cfg):  # the running node makes it (its database, its tor's client auth)
        body = {"expires_in": args.expires, "label": args.label, "nickname": args.nickname}
        _show(args, call(cfg, "POST", "/api/v1/invites", body))
        return 0
    _show(args, make_invite_here(args, cfg))
    return 0


def make_invite_here(args: argparse.Namespace, cfg: GatewayConfig) -> dict[str, object]:
    """Make the invite in the node's database directly (no node running)."""
    paths = StatePaths(cfg.node.state_dir)
    keys = IdentityKeys.load(paths)
    onion = OnionKey.load(paths.onion_key)
    policy = cfg.security.policy
    nickname = args.nickname or _clip(cfg.node.name)
    with open_book(paths, keys) as book:
        invite = book.make_invite(
            keys.signing,
            onion.public_key,
            keys.static_public,
            now=int(time.time()),
            ttl=args.expires,
            level=policy.level,
            post_quantum=policy.post_quantum,
            client_auth=policy.client_auth_required,
            label=args.label,
            nickname=nickname,
        )
    if invite.client_auth_private is not None:
        authorize(paths, ClientAuthKey(invite.client_auth_private).public)
    return invite_json(invite, args.label)


def _show(args: argparse.Namespace, data: dict[str, object]) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
        return
    print(_text(data), end="")
    if not args.no_qr and sys.stdout.isatty():
        from gateway.contacts.qr import qr_payload, render_qr  # segno: only when drawn

        print(render_qr(qr_payload(str(data["link"]))), end="")


def _clip(name: str) -> str:
    return name.encode("utf-8")[:MAX_NICKNAME_BYTES].decode("utf-8", errors="ignore")


def _text(invite: dict[str, object]) -> str:
    lines = [
        f"invite (single use, valid until {invite['expires_utc']}):",
        str(invite["invite"]),
        "",
        f"link: {invite['link']}",
    ]
    if invite["client_auth"]:
        lines.append("client authorization: a key for the invitee is in the invite")
    lines.append("give it to one person over a channel you trust; they run: gateway contacts add")
    return "\n".join(lines) + "\n"
