"""``gateway circle create|invite|join|propose|log|status``: circles of the running node.

A circle orders group decisions among contacts with PBFT (docs/PROTOCOL-circles.md).
``create`` sends the signed genesis to the members over the ``circle`` channel; each of
them sees it as a *pending* circle in ``circle status`` and accepts it with ``circle join``.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.parse
from typing import Any

from gateway.api.client import call
from gateway.cli.names import known_names, shown
from gateway.config.loader import load_config

KINDS = ("add-member", "remove-member", "set-space", "tombstone", "record-answer")


def register(sub: Any) -> None:
    circle = sub.add_parser("circle", help="circles: group decisions with contacts (PBFT)")
    cmds = circle.add_subparsers(dest="circle_command", metavar="ACTION", required=True)
    create = _add(cmds, "create", "create a circle of this node and contacts", run_create)
    create.add_argument("name", help="the circle's local name")
    create.add_argument("members", nargs="*", help="contact nicknames (or ids); none: alone")
    create.add_argument(
        "--checkpoint-interval", type=int, default=16, metavar="K",
        help="sequence numbers per checkpoint, 1-256 (default 16)",
    )  # fmt: skip
    invite = _add(cmds, "invite", "send a circle's genesis to a contact now", run_invite)
    invite.add_argument("circle", help="the circle's name or id prefix")
    invite.add_argument("contact", help="the contact's nickname or id")
    join = _add(cmds, "join", "accept a pending circle (a genesis a contact sent)", run_join)
    join.add_argument("circle", help="the pending circle's name (c-...) or id prefix")
    join.add_argument("--name", default=None, help="a local name for it")
    propose = _add(cmds, "propose", "propose a decision to a circle", run_propose)
    propose.add_argument("circle", help="the circle's name or id prefix")
    propose.add_argument("kind", choices=KINDS, help="what to decide")
    propose.add_argument(
        "args", nargs="*",
        help="add-member/remove-member CONTACT; set-space SPACE open|listed|removed [MEMBER...];"
        " tombstone ENTRY; record-answer ROUND_ID ANSWER_TEXT",
    )  # fmt: skip
    log = _add(cmds, "log", "the decisions a circle executed, in order", run_log)
    log.add_argument("circle", help="the circle's name or id prefix")
    log.add_argument("--after", type=int, default=0, help="only sequence numbers above this")
    status = _add(cmds, "status", "every circle, or one circle's replica and state", run_status)
    status.add_argument("circle", nargs="?", default=None, help="the circle's name or id prefix")


def _add(cmds: Any, name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = cmds.add_parser(name, help=help_text)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=func)
    return parser


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    return call(load_config(args.config), method, "/api/v1/circles" + path, body)


def _seg(text: str) -> str:
    return "/" + urllib.parse.quote(text, safe="")


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def run_create(args: argparse.Namespace) -> int:
    body = {
        "name": args.name,
        "members": args.members,
        "checkpoint_interval": args.checkpoint_interval,
    }
    c = _call(args, "POST", "", body)
    _print(args, c, f"created circle {c['name']} ({c['id'][:16]}), {len(c['members'])} members")
    return 0


def run_invite(args: argparse.Namespace) -> int:
    r = _call(args, "POST", _seg(args.circle) + "/invite", {"contact": args.contact})
    _print(args, r, "genesis sent" if r["sent"] else "not sent: the contact is offline")
    return 0 if r["sent"] else 1


def run_join(args: argparse.Namespace) -> int:
    body = {"name": args.name} if args.name else {}
    c = _call(args, "POST", _seg(args.circle) + "/join", body)
    _print(args, c, f"joined circle {c['name']} ({c['id'][:16]})")
    return 0


def proposal(kind: str, rest: list[str]) -> dict[str, Any]:
    """The API body of ``circle propose KIND ARGS...``; ValueError naming what is missing."""
    if kind in ("add-member", "remove-member"):
        if len(rest) != 1:
            raise ValueError(f"{kind} takes one contact")
        return {"kind": kind, "member": rest[0]}
    if kind == "set-space":
        if len(rest) < 2:
            raise ValueError("set-space takes SPACE POLICY [MEMBER...]")
        return {"kind": kind, "space": rest[0], "policy": rest[1], "members": rest[2:]}
    if kind == "tombstone":
        if len(rest) != 1:
            raise ValueError("tombstone takes one entry id")
        return {"kind": kind, "entry": rest[0]}
    if len(rest) != 2:
        raise ValueError("record-answer takes ROUND_ID ANSWER_TEXT")
    return {"kind": kind, "round_id": rest[0], "answer": rest[1]}


def run_propose(args: argparse.Namespace) -> int:
    try:
        body = proposal(args.kind, args.args)
    except ValueError as exc:
        raise SystemExit(f"gateway circle propose: {exc}") from None
    r = _call(args, "POST", _seg(args.circle) + "/proposals", body)
    _print(args, r, f"proposed {r['proposed']['kind']} (it runs once a quorum commits it)")
    return 0


def run_log(args: argparse.Namespace) -> int:
    entries = _call(args, "GET", _seg(args.circle) + f"/log?after={max(0, args.after)}")["entries"]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    names = known_names(load_config(args.config)) if entries else {}
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["at"]))
        by = shown(e["proposer"], names) if e["proposer"] else "-"
        d = {k: v for k, v in e["decision"].items() if k != "kind"}
        flag = "" if e["applied"] else " (no change)"
        print(f"{e['seq']:>6}  {when}  {e['kind']:<14} by {by}{flag}  {json.dumps(d)}")
    if not entries:
        print("(no decisions)")
    return 0


def run_status(args: argparse.Namespace) -> int:
    if args.circle is None:
        circles = _call(args, "GET", "")["circles"]
        if args.json:
            print(json.dumps(circles, indent=2))
            return 0
        for c in circles:
            print(
                f"{c['name']:<20} {c['id'][:16]}  {c['status']:<8} {len(c['members'])} members"
                f"  executed {c['last_executed']}"
            )
        if not circles:
            print("(no circles)")
        return 0
    c = _call(args, "GET", _seg(args.circle))
    if args.json:
        print(json.dumps(c, indent=2))
        return 0
    names = known_names(load_config(args.config))
    print(f"circle {c['name']} ({c['id']}): {c['status']}")
    print("members: " + ", ".join(shown(m, names) for m in c["members"]))
    r = c["replica"]
    if r is not None:
        print(
            f"view {r['view']} ({'active' if r['active'] else 'changing view'}), primary "
            f"{shown(r['primary'], names)}; executed {r['last_executed']}, stable "
            f"{r['stable_seq']}; n={r['n']} f={r['f']} quorum={r['quorum']}"
        )
        ranks = r.get("ranks", {})
        print(
            "primary order: "
            + ", ".join(f"{shown(m, names)} (rank {ranks.get(m, '?')})" for m in r["order"])
        )
        for s in c["spaces"]:
            who = ", ".join(shown(m, names) for m in s["members"])
            print(f"space {s['name']}: {s['policy']}" + (f" ({who})" if who else ""))
        print(f"tombstones: {len(c['tombstones'])}, answers: {len(c['answers'])}")
    for f in c["faults"][:10]:
        print(f"fault: {f['kind']} by {shown(f['member'], names)}: {f['detail']}")
    return 0
