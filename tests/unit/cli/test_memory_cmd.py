"""``gateway memory ...``: argument parsing, what is asked of the API, what is printed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import build_parser, main, memory_cmd
from gateway.errors import ApiError

ID = "ab" * 32
ENTRY: dict[str, Any] = {
    "id": ID,
    "author": "cd" * 32,
    "seq": 3,
    "prev": "ef" * 32,
    "timestamp_ms": 1_700_000_000_000,
    "kind": "note",
    "target": None,
    "space": "work",
    "topic": "plans",
    "tags": ["a", "b"],
    "body": "line one\nline two",
    "metadata": {},
}


#: what ``known_names`` gives the commands (identity hex -> nickname)
NAMES: dict[str, str] = {}


class FakeApi:
    """Stands in for gateway.api.client.call: records requests, returns canned replies."""

    def __init__(self, reply: Any = None, error: Exception | None = None) -> None:
        self.reply = reply
        self.error = error
        self.calls: list[tuple[str, str, Any]] = []
        self.timeouts: list[float] = []

    def __call__(
        self, cfg: Any, method: str, path: str, body: Any = None, *, timeout: float = 30.0
    ) -> Any:
        assert cfg == "CFG"
        self.calls.append((method, path, body))
        self.timeouts.append(timeout)
        if self.error is not None:
            raise self.error
        return self.reply


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], api: FakeApi, *argv: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(memory_cmd, "call", api)
    monkeypatch.setattr(memory_cmd, "load_config", lambda path: "CFG")
    monkeypatch.setattr(memory_cmd, "known_names", lambda cfg: dict(NAMES))
    status = main(["--config", "node.yaml", "memory", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


# --- parsing ---------------------------------------------------------------------------------


def test_put_arguments() -> None:
    args = build_parser().parse_args(
        ["memory", "put", "hi", "--space", "work", "--tag", "x", "--tag", "y", "--meta", "{}"]
    )
    assert (args.func, args.text, args.space, args.tags, args.meta) == (
        memory_cmd.run_put, "hi", "work", ["x", "y"], "{}",
    )  # fmt: skip
    assert args.topic == "" and args.supersedes is None and args.json is False


def test_defaults() -> None:
    parse = build_parser().parse_args
    assert parse(["memory", "list"]).limit == 20 and parse(["memory", "list"]).space is None
    assert parse(["memory", "search", "a", "b"]).words == ["a", "b"]
    assert parse(["memory", "sync"]).timeout == memory_cmd.SYNC_WAIT
    assert parse(["memory", "sync", "--timeout", "600"]).timeout == 600
    assert parse(["memory", "stats", "--json"]).json is True


@pytest.mark.parametrize(
    "argv",
    [["memory"], ["memory", "put"], ["memory", "get"], ["memory", "search"],
     ["memory", "frobnicate"], ["memory", "list", "--limit", "x"],
     ["memory", "sync", "--timeout", "0"], ["memory", "sync", "--timeout", "601"],
     ["memory", "sync", "--timeout", "soon"]],
)  # fmt: skip
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


# --- put, get, delete ---------------------------------------------------------------------------


def test_put_sends_the_fields(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(ENTRY)
    status, out, _ = run(
        monkeypatch, capsys, api, "put", "hello", "--space", "work", "--topic", "plans",
        "--tag", "a", "--meta", '{"k": 1}', "--supersedes", "ef" * 32,
    )  # fmt: skip
    assert status == 0
    assert api.calls == [
        ("POST", "/api/v1/memory", {
            "text": "hello", "space": "work", "topic": "plans", "tags": ["a"],
            "metadata": {"k": 1}, "supersedes": "ef" * 32,
        })
    ]  # fmt: skip
    assert out == f"stored {ID} (seq 3 in work)\n"


def test_put_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    api = FakeApi(ENTRY)
    status, out, _ = run(monkeypatch, capsys, api, "put", "-", "--json")
    assert status == 0
    assert api.calls[0][2] == {"text": "from stdin\n", "space": "default", "topic": "", "tags": []}
    assert json.loads(out) == ENTRY


def test_put_bad_meta_exits_2_without_calling(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(ENTRY)
    status, out, err = run(monkeypatch, capsys, api, "put", "x", "--meta", "{nope")
    assert status == 2 and out == "" and api.calls == []
    assert "--meta: expected a JSON object" in err


def test_get_prints_the_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi({**ENTRY, "replaced_by": "12" * 32})
    status, out, _ = run(monkeypatch, capsys, api, "get", ID)
    assert status == 0 and api.calls == [("GET", f"/api/v1/memory/{ID}", None)]
    lines = out.splitlines()
    assert lines[0].startswith(ID[:16]) and f"by {'cd' * 8}" in lines[0]
    assert lines[0].endswith("[work] plans #a #b")
    assert lines[1:] == ["  line one", "  line two", f"  (replaced by {'12' * 8})"]


def test_get_of_a_tombstone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tomb = {**ENTRY, "kind": "tombstone", "target": "99" * 32, "body": "", "topic": "", "tags": [],
            "replaced_by": None}  # fmt: skip
    status, out, _ = run(monkeypatch, capsys, FakeApi(tomb), "get", ID)
    assert status == 0
    assert out.splitlines()[1:] == [f"  tombstone of {'99' * 8}", "  "]


@pytest.mark.parametrize("action", ["get", "delete"])
@pytest.mark.parametrize("bad", ["../status", "abcdef1", "ab" * 32 + "0", "zz" * 32, ""])
def test_bad_ids_never_reach_the_api(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], action: str, bad: str
) -> None:
    api = FakeApi(ENTRY)
    with pytest.raises(SystemExit) as exc:
        run(monkeypatch, capsys, api, action, bad)
    assert exc.value.code == 2 and api.calls == []
    assert "64 hex digits" in capsys.readouterr().err


def test_ids_are_lower_cased(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi({**ENTRY, "replaced_by": None})
    run(monkeypatch, capsys, api, "get", ID.upper())
    assert api.calls == [("GET", f"/api/v1/memory/{ID}", None)]
    with pytest.raises(SystemExit):
        run(monkeypatch, capsys, api, "put", "x", "--supersedes", "nope")
    assert len(api.calls) == 1


def test_delete(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi({**ENTRY, "kind": "tombstone"})
    status, out, _ = run(monkeypatch, capsys, api, "delete", ID)
    assert status == 0 and api.calls == [("DELETE", f"/api/v1/memory/{ID}", None)]
    assert out == f"deleted (tombstone {ID})\n"


def test_api_errors_are_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(error=ApiError("not_found: no entry abab"))
    status, out, err = run(monkeypatch, capsys, api, "get", ID)
    assert status == ApiError.exit_status and status != 0
    assert out == "" and "not_found: no entry abab" in err


# --- list, search ------------------------------------------------------------------------


def test_list(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi({"entries": [ENTRY, {**ENTRY, "id": "01" * 32}]})
    status, out, _ = run(monkeypatch, capsys, api, "list", "--space", "work", "--limit", "5")
    assert status == 0
    assert api.calls == [("GET", "/api/v1/memory?limit=5&space=work", None)]
    assert [line[:16] for line in out.splitlines() if not line.startswith(" ")] == [
        ID[:16],
        "01" * 8,
    ]


def test_list_empty_and_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(monkeypatch, capsys, FakeApi({"entries": []}), "list")
    assert out == "(no entries)\n"
    _, out, _ = run(monkeypatch, capsys, FakeApi({"entries": [ENTRY]}), "list", "--json")
    assert json.loads(out) == [ENTRY]


def test_search(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi({"entries": [ENTRY]})
    status, out, _ = run(monkeypatch, capsys, api, "search", "red", "fox&co", "--space", "w")
    assert status == 0
    assert api.calls == [
        ("GET", "/api/v1/memory/search?q=red+fox%26co&mode=hybrid&limit=20&space=w", None)
    ]
    assert "line one" in out


def test_search_mode_and_filters(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi({"mode": "semantic", "entries": [ENTRY]})
    args = ("search", "fox", "--mode", "semantic", "--topic", "t", "--tag", "a", "--tag", "b")
    status, out, _ = run(monkeypatch, capsys, api, *args)
    assert status == 0
    assert api.calls == [
        ("GET", "/api/v1/memory/search?q=fox&mode=semantic&limit=20&topic=t&tag=a&tag=b", None)
    ]
    assert "unavailable" not in out


def test_search_says_when_meaning_was_unavailable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi({"mode": "keyword", "entries": [ENTRY]})
    status, out, _ = run(monkeypatch, capsys, api, "search", "fox")
    assert status == 0
    assert "search by meaning is unavailable: ranked by keyword only" in out


# --- sync, verify, stats -----------------------------------------------------------------

PEER_OK = {"peer": "aa" * 32, "ok": True, "stored": 4, "refused": {}, "error": None}
PEER_BAD = {"peer": "bb" * 32, "ok": False, "stored": 0, "refused": {"malformed": 2},
            "error": "timed out"}  # fmt: skip


def test_sync_all_good(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi({"results": [PEER_OK]})
    status, out, _ = run(monkeypatch, capsys, api, "sync", "--timeout", "7")
    assert status == 0 and api.calls == [("POST", "/api/v1/memory/sync?timeout=7", None)]
    assert api.timeouts == [7 + 15]  # the request outlives the sync wait
    assert out == f"{'aa' * 8}  synced, 4 entries received, refused: none\n"


def test_sync_with_a_failure_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(monkeypatch, capsys, FakeApi({"results": [PEER_OK, PEER_BAD]}), "sync")
    assert status == 1
    assert out.splitlines()[1] == (
        f"{'bb' * 8}  failed (timed out), 0 entries received, refused: malformed: 2"
    )
    status, out, _ = run(monkeypatch, capsys, FakeApi({"results": [PEER_BAD]}), "sync", "--json")
    assert status == 1 and json.loads(out) == [PEER_BAD]


def test_sync_with_nobody_online(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(monkeypatch, capsys, FakeApi({"results": []}), "sync")
    assert status == 0 and out == "no contact is online\n"


REPORT_OK = {"ok": True, "entries": 12, "bad_signatures": [], "broken_links": [],
             "log_problems": [], "split_views": []}  # fmt: skip


def test_verify_ok(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(monkeypatch, capsys, FakeApi(REPORT_OK), "verify")
    assert status == 0 and out == "12 entries checked: OK\n"


def test_verify_problems_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = {**REPORT_OK, "ok": False, "bad_signatures": ["01" * 32],
              "log_problems": ["log leaves differ"],
              "split_views": [{"peer": "cc" * 32, "reason": "log shrank", "at": 1.0}]}  # fmt: skip
    status, out, _ = run(monkeypatch, capsys, FakeApi(report), "verify")
    assert status == 1
    assert out.splitlines() == [
        "12 entries checked: PROBLEMS",
        f"  bad signatures: {'01' * 32}",
        "  log problems: log leaves differ",
        f"  split view from {'cc' * 8}: log shrank",
    ]
    status, out, _ = run(monkeypatch, capsys, FakeApi(report), "verify", "--json")
    assert status == 1 and json.loads(out) == report


def test_stats(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stats = {
        "entries": 5, "held": 1, "log_size": 5,
        "spaces": {"default": {"entries": 3, "shared_with_all": True},
                   "work": {"entries": 2, "shared_with_all": False}},
        "rejections": {"malformed": 2, "bad_signature": 1},
        "sync": {"sessions_started": 4}, "last_sync": {},
    }  # fmt: skip
    status, out, _ = run(monkeypatch, capsys, FakeApi(stats), "stats")
    assert status == 0
    assert out.splitlines() == [
        "entries: 5 (held 1, log 5)",
        "  space default: 3 entries, shared with all contacts",
        "  space work: 2 entries, shared with listed contacts",
        "  refused (bad_signature): 1",
        "  refused (malformed): 2",
        "  sync sessions_started: 4",
    ]
    status, out, _ = run(monkeypatch, capsys, FakeApi(stats), "stats", "--json")
    assert json.loads(out) == stats


def test_config_is_read_from_the_given_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen: list[Path] = []
    monkeypatch.setattr(memory_cmd, "call", FakeApi({"results": []}))
    monkeypatch.setattr(memory_cmd, "load_config", lambda path: seen.append(path) or "CFG")
    assert main(["--config", str(tmp_path / "x.yaml"), "memory", "sync"]) == 0
    assert seen == [tmp_path / "x.yaml"]


def test_authors_are_shown_by_their_nickname(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``memory list`` showed ``by <id>`` even for a contact with a nickname."""
    monkeypatch.setitem(NAMES, ENTRY["author"], "bob")
    status, out, _ = run(monkeypatch, capsys, FakeApi({"entries": [ENTRY]}), "list")
    assert status == 0 and " by bob " in out and ENTRY["author"][:16] not in out
