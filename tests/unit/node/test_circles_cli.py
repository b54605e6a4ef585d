"""``gateway circle``: the parser and the proposal bodies it sends to the API."""

from __future__ import annotations

import pytest

from gateway.cli import build_parser
from gateway.cli.circle_cmd import proposal


def test_proposal_bodies() -> None:
    assert proposal("add-member", ["bob"]) == {"kind": "add-member", "member": "bob"}
    assert proposal("set-space", ["team", "listed", "bob", "me"]) == {
        "kind": "set-space", "space": "team", "policy": "listed", "members": ["bob", "me"],
    }  # fmt: skip
    assert proposal("tombstone", ["abcdef01"]) == {"kind": "tombstone", "entry": "abcdef01"}
    assert proposal("record-answer", ["ab" * 32, "yes"]) == {
        "kind": "record-answer", "round_id": "ab" * 32, "answer": "yes",
    }  # fmt: skip
    for kind, rest, words in [
        ("add-member", [], "one contact"),
        ("set-space", ["team"], "SPACE POLICY"),
        ("tombstone", ["a", "b"], "one entry"),
        ("record-answer", ["x"], "ROUND_ID ANSWER_TEXT"),
    ]:
        with pytest.raises(ValueError, match=words):
            proposal(kind, rest)


def test_the_circle_commands_parse() -> None:
    parser = build_parser()
    args = parser.parse_args(["circle", "create", "team", "bob", "carol"])
    assert (args.name, args.members, args.checkpoint_interval) == ("team", ["bob", "carol"], 16)
    args = parser.parse_args(["circle", "propose", "team", "tombstone", "abcd1234", "--json"])
    assert (args.kind, args.args, args.json) == ("tombstone", ["abcd1234"], True)
    args = parser.parse_args(["circle", "status"])
    assert args.circle is None
    with pytest.raises(SystemExit):
        parser.parse_args(["circle", "propose", "team", "vote"])
