"""``gateway contacts add|list|remove``: the contact book in the node's state directory."""

from __future__ import annotations

import argparse
import datetime
import json
import time
import urllib.parse

from gateway.api.client import call, node_running
from gateway.config.loader import load_config
from gateway.contacts.book import Contact, ContactBook, revocation_for
from gateway.contacts.local import apply_revocation, install_contact_keys, open_book
from gateway.contacts.views import contact_json
from gateway.state.keys import IdentityKeys
from gateway.state.paths import StatePaths


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("contacts", help="add, list, rename and remove contacts")
    actions = parser.add_subparsers(dest="contacts_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add the node that made an invite")
    add.add_argument("invite", metavar="INVITE", help="the invite string or link")
    add.add_argument("--nickname", help="your name for this contact (default: the invite's)")
    add.set_defaults(func=run_add)
    show = actions.add_parser("list", help="list contacts")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_list)
    remove = actions.add_parser("remove", help="remove a contact and revoke its client auth")
    remove.add_argument("contact", metavar="ID_OR_NICK", help="nickname, id or id prefix (8+)")
    remove.set_defaults(func=run_remove)
    rename = actions.add_parser("rename", help="give a contact another nickname")
    rename.add_argument("contact", metavar="ID_OR_NICK", help="nickname, id or id prefix (8+)")
    rename.add_argument("nickname", metavar="NICKNAME", help="the new nickname")
    rename.set_defaults(func=run_rename)


def _open(args: argparse.Namespace) -> tuple[StatePaths, ContactBook, bool]:
    cfg = load_config(args.config)
    paths = StatePaths(cfg.node.state_dir)
    keys = IdentityKeys.load(paths)
    return paths, open_book(paths, keys), cfg.security.policy.client_auth_required


def run_add(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if node_running(cfg):
        body = {"invite": args.invite, "nickname": args.nickname}
        added = call(cfg, "POST", "/api/v1/contacts", {k: v for k, v in body.items() if v})
        name = added["nickname"] or "(no nickname)"
        print(f"added {name} ({added['id'][:16]}): pending until the first connection")
        print(f"onion: {added['onion']}")
        return 0
    paths, book, client_auth = _open(args)
    with book:
        contact = book.add_contact(
            args.invite,
            int(time.time()),
            nickname=args.nickname,
            client_auth=client_auth,
        )
    install_contact_keys(paths, contact)
    print(f"added {_name(contact)} ({contact.short_id}): pending until the first connection")
    print(f"onion: {contact.onion_address}.onion")
    return 0


def run_list(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if node_running(cfg) and args.json:
        print(json.dumps(call(cfg, "GET", "/api/v1/contacts")["contacts"], indent=2))
        return 0
    _, book, _ = _open(args)  # reading works beside a running node (SQLite WAL)
    with book:
        contacts = book.list()
    if args.json:
        print(json.dumps([contact_json(c) for c in contacts], indent=2))
    elif not contacts:
        print("no contacts (add one with: gateway contacts add INVITE)")
    else:
        print(_table(contacts), end="")
    return 0


def run_rename(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if node_running(cfg):
        path = f"/api/v1/contacts/{urllib.parse.quote(args.contact)}"
        renamed = call(cfg, "PATCH", path, {"nickname": args.nickname})
        print(f"renamed {renamed['id'][:16]} to {renamed['nickname']}")
        return 0
    _, book, _ = _open(args)
    with book:
        contact = book.rename(book.find(args.contact).identity, args.nickname)
    print(f"renamed {contact.short_id} to {contact.nickname}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if node_running(cfg):
        reply = call(cfg, "DELETE", f"/api/v1/contacts/{urllib.parse.quote(args.contact)}")
        removed = reply["removed"]
        print(f"removed {removed['nickname'] or '(no nickname)'} ({removed['id'][:16]})")
        if reply["auth_removed"]:
            print("revoked its client authorization (takes effect when tor reloads: SIGHUP)")
        if reply["auth_private_removed"]:
            print("deleted the client-auth key for its onion service")
        return 0
    paths, book, _ = _open(args)
    with book:
        contact = book.find(args.contact)
        # files first: a failure leaves the contact in the book, never a stray authorization
        result = apply_revocation(paths, revocation_for(contact))
        book.remove(contact.identity)
    print(f"removed {_name(contact)} ({contact.short_id})")
    if result.auth_removed:
        print("revoked its client authorization (takes effect when tor reloads: SIGHUP)")
    if result.auth_private_removed:
        print("deleted the client-auth key for its onion service")
    return 0


def _name(contact: Contact) -> str:
    return contact.nickname or "(no nickname)"


def _utc(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(contacts: tuple[Contact, ...]) -> str:
    rows = [("NICKNAME", "ID", "STATE", "ONION", "LAST SEEN")]
    for c in contacts:
        seen = _utc(c.last_seen) or "never"
        rows.append((_name(c), c.short_id, c.state.value, f"{c.onion_address}.onion", seen))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join([*(v.ljust(w) for v, w in zip(r, widths, strict=False)), r[-1]]) for r in rows
    ]
    return "\n".join(lines) + "\n"
