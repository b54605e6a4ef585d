"""``gateway converge`` and ``gateway rounds``: parsing, API requests, what is printed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gateway.cli import build_parser, converge_cmd, main
from gateway.errors import ApiError

RID = "ab" * 32
ALICE, BOB = "a1" * 32, "b0" * 32


def running_view() -> dict[str, Any]:
    return {
        "round_id": RID,
        "role": "asker",
        "asker": ALICE,
        "question": "Compute 6 * 7.",
        "created": 1_700_000_000.0,
        "participants": [{"id": ALICE, "name": "(this node)"}, {"id": BOB, "name": "bob"}],
        "stage": "commit",
        "stages": [{"stage": "commit", "at": 1.0}],
        "status": "running",
        "peers": {},
        "faults": [],
        "ai": [],
        "result": None,
    }


def progressed_view() -> dict[str, Any]:
    view = running_view()
    view["stages"].append({"stage": "reveal", "at": 2.0})
    view["peers"] = {BOB: ["commit"]}
    return view


def finished_view() -> dict[str, Any]:
    view = progressed_view()
    view["stages"] += [{"stage": s, "at": 3.0} for s in ("review", "synthesis", "done")]
    view["peers"] = {BOB: ["commit", "reveal", "ranking"]}
    view["faults"] = [
        {"peer": "c0" * 32, "stage": "commit", "kind": "timeout", "detail": "late", "name": None}
    ]
    view["status"] = view["stage"] = "ok"
    view["memory_entry"] = "ee" * 32
    view["result"] = {
        "text": "The council agrees.\nANSWER: 42",
        "status": "ok",
        "chair": BOB,
        "cited": ["c1" * 32, "c2" * 32],
        "ranked": [
            {
                "commitment": "c1" * 32,
                "points": 2,
                "ballots": 1,
                "answer": "ANSWER: 42",
                "author": {"id": BOB, "name": "bob"},
            },
            {
                "commitment": "c2" * 32,
                "points": 0,
                "ballots": 1,
                "answer": "ANSWER: 41",
                "author": {"id": ALICE, "name": "(this node)"},
            },
        ],
        "faults": [],
    }
    return view


class FakeApi:
    """Stands in for gateway.api.client.call: records requests, replies in turn."""

    def __init__(self, *replies: Any, error: Exception | None = None) -> None:
        self.replies = list(replies)
        self.error = error
        self.calls: list[tuple[str, str, Any]] = []

    def __call__(self, cfg: Any, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        assert cfg == "CFG"
        self.calls.append((method, path, copy.deepcopy(body)))
        if self.error is not None:
            raise self.error
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], api: FakeApi, *argv: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(converge_cmd, "call", api)
    monkeypatch.setattr(converge_cmd, "load_config", lambda path: "CFG")
    monkeypatch.setattr(converge_cmd, "POLL", 0)
    status = main(["--config", "node.yaml", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


# --- parsing ---------------------------------------------------------------------------------


def test_converge_arguments() -> None:
    args = build_parser().parse_args(
        ["converge", "why?", "--with", "bob", "--with", "carol", "--answer-time", "30",
         "--review-time", "7.5", "--no-wait", "--json"]
    )  # fmt: skip
    assert args.func is converge_cmd.run_converge and args.question == "why?"
    assert args.peers == ["bob", "carol"] and args.no_wait and args.json
    assert (args.answer_time, args.reveal_time, args.review_time, args.synthesis_time) == (
        30.0, None, 7.5, None,
    )  # fmt: skip


def test_converge_defaults_and_rounds_actions() -> None:
    parse = build_parser().parse_args
    args = parse(["converge", "q"])
    assert args.peers is None and not args.no_wait and not args.json
    assert parse(["rounds", "list"]).func is converge_cmd.run_list
    assert parse(["rounds", "list"]).limit == 20
    assert parse(["rounds", "show", "abcd1234"]).func is converge_cmd.run_show
    with pytest.raises(SystemExit):
        parse(["rounds"])
    with pytest.raises(SystemExit):
        parse(["converge", "q", "--answer-time", "soon"])


# --- converge --------------------------------------------------------------------------------


def test_converge_prints_progress_then_the_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(running_view(), running_view(), progressed_view(), finished_view())
    status, out, _ = run(monkeypatch, capsys, api, "converge", "Compute 6 * 7.", "--with", "bob",
                         "--answer-time", "30")  # fmt: skip
    assert status == 0
    assert api.calls[0] == (
        "POST", "/api/v1/rounds",
        {"question": "Compute 6 * 7.", "participants": ["bob"], "times": {"answer": 30.0}},
    )  # fmt: skip
    assert all(c == ("GET", f"/api/v1/rounds/{RID}", None) for c in api.calls[1:])
    assert len(api.calls) == 4
    lines = out.splitlines()
    assert lines[0] == f"round {RID[:16]}: 2 participants"
    for stage in ("commit", "reveal", "review", "synthesis", "done"):
        assert lines.count(f"  stage: {stage}") == 1  # each shown once
    assert lines.count("    bob: commit") == 1 and "    bob: ranking" in lines
    assert any(line.startswith("    fault: ") and "timeout in commit" in line for line in lines)
    assert "final answer (ok):" in out and "  ANSWER: 42" in out
    assert out.index("1. [c1c1") < out.index("2. [c2c2")
    assert "bob: ANSWER: 42" in out and "stored in memory as eeee" in out


def test_converge_json_prints_only_the_final_view(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(running_view(), finished_view())
    status, out, _ = run(monkeypatch, capsys, api, "converge", "q", "--json")
    assert status == 0
    assert json.loads(out) == finished_view()


def test_converge_no_wait(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(running_view())
    status, out, _ = run(monkeypatch, capsys, api, "converge", "q", "--no-wait")
    assert status == 0 and out.splitlines()[-1] == RID and len(api.calls) == 1
    assert api.calls[0][2] == {"question": "q"}


def test_converge_passes_a_zero_time_on_for_the_node_to_refuse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(running_view())
    run(monkeypatch, capsys, api, "converge", "q", "--no-wait", "--reveal-time", "0")
    assert api.calls[0][2]["times"] == {"reveal": 0.0}


def test_a_round_without_answer_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    view = running_view()
    view["status"] = "no_answers"
    status, out, _ = run(monkeypatch, capsys, FakeApi(running_view(), view), "converge", "q")
    assert status == 1 and "no_answers" in out


def test_api_errors_are_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(error=ApiError("RoundError: stage time 'answer' must be in (0, 86400]"))
    status, _, err = run(monkeypatch, capsys, api, "converge", "q")
    assert status == 1 and "stage time" in err


# --- rounds list / show ----------------------------------------------------------------------


def test_rounds_list(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    summary = {k: running_view()[k] for k in ("round_id", "role", "question", "stage", "status")}
    summary["created"] = 1_700_000_000.0
    api = FakeApi({"rounds": [summary]})
    status, out, _ = run(monkeypatch, capsys, api, "rounds", "list", "--limit", "5")
    assert status == 0 and api.calls == [("GET", "/api/v1/rounds?limit=5", None)]
    assert out.startswith(RID[:16]) and "asker" in out and "Compute 6 * 7." in out
    status, out, _ = run(monkeypatch, capsys, api, "rounds", "list", "--json")
    assert json.loads(out) == [summary]


def test_rounds_list_empty(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(monkeypatch, capsys, FakeApi({"rounds": []}), "rounds", "list")
    assert status == 0 and out.strip() == "(no rounds)"


def test_rounds_show(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi(finished_view())
    status, out, _ = run(monkeypatch, capsys, api, "rounds", "show", RID[:10])
    assert status == 0 and api.calls == [("GET", f"/api/v1/rounds/{RID[:10]}", None)]
    assert f"round {RID[:16]} (asker): ok" in out and "question: Compute 6 * 7." in out
    assert "participants: (this node), bob" in out and "fault: c0c0" in out
    status, out, _ = run(monkeypatch, capsys, api, "rounds", "show", RID[:10], "--json")
    assert json.loads(out)["result"]["chair"] == BOB
