"""``gateway memory put|get|delete|list|search|sync|verify|stats``: the running node's memory."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.parse
from typing import Any

from gateway.api.client import call
from gateway.cli.names import known_names, shown
from gateway.config.loader import load_config
from gateway.errors import ConfigError

#: default sync wait, seconds
SYNC_WAIT = 60
#: longest sync wait the API accepts
MAX_SYNC_WAIT = 600
_ENTRY_ID = re.compile(r"[0-9a-fA-F]{8,64}")


def register(sub: Any) -> None:
    memory = sub.add_parser("memory", help="signed memory shared with contacts")
    cmds = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    put = _add(cmds, "put", "write an entry (signed, then synced to contacts)", run_put)
    put.add_argument("text", help="the entry's text ('-' reads stdin)")
    put.add_argument("--space", default="default", help="the space (default: default)")
    put.add_argument("--topic", default="", help="a topic")
    put.add_argument("--tag", action="append", default=[], dest="tags", help="a tag (repeatable)")
    put.add_argument("--meta", default=None, help="JSON object of metadata")
    put.add_argument(
        "--supersedes", type=_entry_id, default=None, metavar="ID", help="replace an entry of ours"
    )
    get = _add(cmds, "get", "show one entry", run_get)
    get.add_argument("id", type=_entry_id, help="the entry id, or its first 8+ hex digits")
    delete = _add(cmds, "delete", "delete an entry of ours (a tombstone entry)", run_delete)
    delete.add_argument("id", type=_entry_id, help="the entry id, or its first 8+ hex digits")
    lst = _add(cmds, "list", "the newest live entries", run_list)
    lst.add_argument("--space", default=None, help="only this space")
    lst.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    search = _add(cmds, "search", "search by words, by meaning, or both", run_search)
    search.add_argument("words", nargs="+", help="what to look for")
    search.add_argument(
        "--mode", choices=("keyword", "semantic", "hybrid"), default="hybrid",
        help="keyword: BM25 over the words; semantic: by meaning (vectors); hybrid (default): "
        "both, their scores combined",
    )  # fmt: skip
    search.add_argument("--space", default=None, help="only this space")
    search.add_argument("--topic", default=None, help="only entries with this topic")
    search.add_argument(
        "--tag", action="append", default=[], help="only entries with this tag (repeatable)"
    )
    search.add_argument("--author", default=None, help="only this author (identity key, hex)")
    search.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    sync = _add(cmds, "sync", "sync with every online contact now", run_sync)
    sync.add_argument(
        "--timeout", type=_sync_timeout, default=SYNC_WAIT,
        help=f"seconds to wait, 1-{MAX_SYNC_WAIT} (default {SYNC_WAIT})",
    )  # fmt: skip
    _add(cmds, "verify", "check every signature, chain link and the Merkle log", run_verify)
    _add(cmds, "stats", "entry counts, rejections and sync counters", run_stats)


def _entry_id(text: str) -> str:
    """An entry id or its first 8+ hex digits, as `memory list` prints them (a single,
    safe URL path segment)."""
    if not _ENTRY_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected an entry id (64 hex digits, or its first 8 or more), not {text!r}"
        )
    return text.lower()


def _sync_timeout(text: str) -> int:
    """Whole seconds the node may spend on the sync (the API accepts 1 to 600)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_SYNC_WAIT:
        raise argparse.ArgumentTypeError(f"expected whole seconds from 1 to {MAX_SYNC_WAIT}")
    return value


def _add(cmds: Any, name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = cmds.add_parser(name, help=help_text)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=func)
    return parser


def _call(
    args: argparse.Namespace, method: str, path: str, body: Any = None, *, timeout: float = 30.0
) -> Any:
    return call(load_config(args.config), method, "/api/v1/memory" + path, body, timeout=timeout)


def _print_entry(e: dict[str, Any], names: dict[str, str]) -> None:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["timestamp_ms"] / 1000))
    tags = " ".join(f"#{t}" for t in e["tags"])
    head = " ".join(x for x in (f"[{e['space']}]", e["topic"], tags) if x)
    print(f"{e['id'][:16]}  {when}  by {shown(e['author'], names)}  {head}")
    if e["kind"] != "note":
        print(f"  {e['kind']} of {e['target'][:16]}")
    for line in e["body"].splitlines() or [""]:
        print(f"  {line}")


def run_put(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    body: dict[str, Any] = {"text": text, "space": args.space, "topic": args.topic}
    body["tags"] = args.tags
    if args.meta is not None:
        try:
            body["metadata"] = json.loads(args.meta)
        except ValueError:
            raise ConfigError(None, "--meta", "a JSON object", args.meta) from None
    if args.supersedes:
        body["supersedes"] = args.supersedes
    entry = _call(args, "POST", "", body)
    if args.json:
        print(json.dumps(entry, indent=2))
    else:
        print(f"stored {entry['id']} (seq {entry['seq']} in {entry['space']})")
    return 0


def run_get(args: argparse.Namespace) -> int:
    entry = _call(args, "GET", f"/{args.id}")
    if args.json:
        print(json.dumps(entry, indent=2))
    else:
        _print_entry(entry, known_names(load_config(args.config)))
        if entry["replaced_by"]:
            print(f"  (replaced by {entry['replaced_by'][:16]})")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    entry = _call(args, "DELETE", f"/{args.id}")
    print(json.dumps(entry, indent=2) if args.json else f"deleted (tombstone {entry['id']})")
    return 0


def _print_entries(args: argparse.Namespace, entries: list[dict[str, Any]]) -> int:
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    names = known_names(load_config(args.config)) if entries else {}
    for e in entries:
        _print_entry(e, names)
    if not entries:
        print("(no entries)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    query = {"limit": str(args.limit)} | ({"space": args.space} if args.space else {})
    reply = _call(args, "GET", "?" + urllib.parse.urlencode(query))
    return _print_entries(args, reply["entries"])


def run_search(args: argparse.Namespace) -> int:
    query: list[tuple[str, str]] = [
        ("q", " ".join(args.words)), ("mode", args.mode), ("limit", str(args.limit))
    ]  # fmt: skip
    for name in ("space", "topic", "author"):
        if getattr(args, name):
            query.append((name, getattr(args, name)))
    query += [("tag", t) for t in args.tag]
    reply = _call(args, "GET", "/search?" + urllib.parse.urlencode(query))
    if not args.json and reply.get("mode") != args.mode:
        print(f"(search by meaning is unavailable: ranked by {reply.get('mode')} only)")
    return _print_entries(args, reply["entries"])


def run_sync(args: argparse.Namespace) -> int:
    reply = _call(args, "POST", f"/sync?timeout={args.timeout}", timeout=args.timeout + 15)
    results = reply["results"]
    if args.json:
        print(json.dumps(results, indent=2))
    elif not results:
        print("no contact is online")
    for r in [] if args.json else results:
        refused = ", ".join(f"{k}: {v}" for k, v in r["refused"].items()) or "none"
        state = "synced" if r["ok"] else f"failed ({r['error']})"
        print(f"{r['peer'][:16]}  {state}, {r['stored']} entries received, refused: {refused}")
    return 0 if all(r["ok"] for r in results) else 1


def run_verify(args: argparse.Namespace) -> int:
    report = _call(args, "GET", "/verify")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['entries']} entries checked: {'OK' if report['ok'] else 'PROBLEMS'}")
        for name in ("bad_signatures", "broken_links", "log_problems"):
            for item in report[name]:
                print(f"  {name.replace('_', ' ')}: {item}")
        for view in report["split_views"]:
            print(f"  split view from {view['peer'][:16]}: {view['reason']}")
    return 0 if report["ok"] else 1


def run_stats(args: argparse.Namespace) -> int:
    stats = _call(args, "GET", "/stats")
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"entries: {stats['entries']} (held {stats['held']}, log {stats['log_size']})")
    for name, space in stats["spaces"].items():
        who = "all contacts" if space["shared_with_all"] else "listed contacts"
        print(f"  space {name}: {space['entries']} entries, shared with {who}")
    for reason, count in sorted(stats["rejections"].items()):
        print(f"  refused ({reason}): {count}")
    for name, count in sorted(stats["sync"].items()):
        print(f"  sync {name}: {count}")
    return 0
