"""``gateway converge "question"`` and ``gateway rounds list|show``: AI convergence rounds."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from gateway.api.client import call
from gateway.config.loader import load_config

POLL = 1.0
STAGES = ("answer", "reveal", "review", "synthesis")


def register(sub: Any) -> None:
    ask = sub.add_parser("converge", help="ask every contact's AI; one collective answer")
    ask.add_argument("question", help="the question")
    ask.add_argument(
        "--with", dest="peers", action="append", default=None, metavar="CONTACT",
        help="only these contacts (repeatable; default: every paired contact)",
    )  # fmt: skip
    ask.add_argument(
        "--participants", "--subset", dest="subset", type=int, default=None, metavar="K",
        help="only the K best-scored reachable contacts (of --with, else of all; see peers)",
    )  # fmt: skip
    for stage in STAGES:
        ask.add_argument(f"--{stage}-time", type=float, default=None, metavar="S",
                         help=f"seconds for the {stage} stage")  # fmt: skip
    ask.add_argument("--space", default=None, help="memory space for the result (default: default)")
    ask.add_argument("--no-wait", action="store_true", help="start the round and return")
    ask.add_argument("--json", action="store_true", help="print the final view as JSON")
    ask.set_defaults(func=run_converge)
    rounds = sub.add_parser("rounds", help="convergence rounds asked or answered here")
    cmds = rounds.add_subparsers(dest="rounds_command", metavar="ACTION", required=True)
    lst = cmds.add_parser("list", help="the newest rounds")
    lst.add_argument("--limit", type=int, default=20)
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=run_list)
    show = cmds.add_parser("show", help="one round: progress, answers, rankings, faults")
    show.add_argument("id", help="the round id (8+ hex digits)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)


def run_converge(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    body: dict[str, Any] = {"question": args.question}
    if args.peers:
        body["participants"] = args.peers
    if args.subset is not None:
        body["subset"] = args.subset
    if args.space:
        body["space"] = args.space
    times = {s: getattr(args, f"{s}_time") for s in STAGES}
    times = {s: t for s, t in times.items() if t is not None}  # 0 too: the node refuses it
    if times:
        body["times"] = times
    view = call(cfg, "POST", "/api/v1/rounds", body)
    rid = view["round_id"]
    if not args.json:
        print(f"round {rid[:16]}: {len(view['participants'])} participants")
    if args.no_wait:
        print(json.dumps(view, indent=2) if args.json else rid)
        return 0
    shown: dict[str, int] = {}
    while view["status"] == "running":
        time.sleep(POLL)
        view = call(cfg, "GET", f"/api/v1/rounds/{rid}")
        if not args.json:
            _progress(view, shown)
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        print_view(view)
    return 0 if view["status"] in ("ok", "fallback") else 1


def _name(peer: dict[str, Any] | None, ident: str | None = None) -> str:
    if peer is not None:
        return str(peer.get("name") or peer["id"][:16])
    return (ident or "?")[:16]


def _progress(view: dict[str, Any], shown: dict[str, int]) -> None:
    """Print what is new: stages entered, messages per peer, faults."""
    names = {p["id"]: _name(p) for p in view["participants"]}
    for stage in view["stages"][shown.get("stages", 0) :]:
        print(f"  stage: {stage['stage']}")
    shown["stages"] = len(view["stages"])
    for peer, kinds in view["peers"].items():
        for kind in kinds[shown.get(peer, 0) :]:
            print(f"    {names.get(peer, peer[:16])}: {kind}")
        shown[peer] = len(kinds)
    for fault in view["faults"][shown.get("faults", 0) :]:
        who = fault.get("name") or names.get(fault["peer"], fault["peer"][:16])
        print(f"    fault: {who} {fault['kind']} in {fault['stage']}: {fault.get('detail', '')}")
    shown["faults"] = len(view["faults"])


def print_view(view: dict[str, Any]) -> None:
    """A round as text: question, final answer, ranked answers, who took part, faults."""
    print(f"round {view['round_id'][:16]} ({view['role']}): {view['status']}")
    print(f"question: {view['question']}")
    result = view.get("result")
    if result:
        print(f"\nfinal answer ({result['status']}):\n  " + result["text"].replace("\n", "\n  "))
        print("\nranked answers (Borda):")
        for i, item in enumerate(result["ranked"], 1):
            who = _name(item.get("author"))
            answer = (item.get("answer") or "").replace("\n", " ")[:100]
            print(f"  {i}. [{item['commitment'][:12]}] {item['points']} points"
                  f" / {item['ballots']} ballots  {who}: {answer}")  # fmt: skip
    print("\nparticipants: " + ", ".join(_name(p) for p in view["participants"]))
    for fault in view["faults"]:
        print(f"fault: {fault.get('name') or fault['peer'][:16]} {fault['kind']}"
              f" in {fault['stage']}")  # fmt: skip
    if view.get("memory_entry"):
        print(f"stored in memory as {view['memory_entry'][:16]}")
    if view.get("error"):
        print(f"error: {view['error']}")


def run_list(args: argparse.Namespace) -> int:
    rounds = call(load_config(args.config), "GET", f"/api/v1/rounds?limit={args.limit}")["rounds"]
    if args.json:
        print(json.dumps(rounds, indent=2))
        return 0
    for r in rounds:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"]))
        print(f"{r['round_id'][:16]}  {when}  {r['role']:11} {r['status']:9} {r['question'][:60]}")
    if not rounds:
        print("(no rounds)")
    return 0


def run_show(args: argparse.Namespace) -> int:
    view = call(load_config(args.config), "GET", f"/api/v1/rounds/{args.id}")
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        print_view(view)
    return 0
