"""``gateway send CONTACT TEXT`` and ``gateway inbox``: direct messages between contacts."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from gateway.api.client import call
from gateway.cli.names import known_names, shown
from gateway.config.loader import load_config


def register(sub: Any) -> None:
    send = sub.add_parser("send", help="send a direct message to a contact (queued if offline)")
    send.add_argument("contact", help="the contact's nickname or id (prefix)")
    send.add_argument("text", help="the message")
    send.set_defaults(func=run_send)
    inbox = sub.add_parser("inbox", help="messages received from contacts")
    inbox.add_argument("--after", type=int, default=0, help="only messages after this id")
    inbox.add_argument("--json", action="store_true", help="print JSON")
    inbox.set_defaults(func=run_inbox)


def run_send(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    reply = call(cfg, "POST", "/api/v1/messages", {"to": args.contact, "text": args.text})
    print(f"queued {reply['id']} (delivered when {args.contact} is reachable)")
    return 0


def run_inbox(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    messages = call(cfg, "GET", f"/api/v1/messages?after={args.after}")
    if args.json:
        print(json.dumps(messages["messages"], indent=2))
        return 0
    names = known_names(cfg)
    for m in messages["messages"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m["received"]))
        print(f"[{m['id']}] {when} {shown(m['from'], names)}: {m['text']}")
    return 0
