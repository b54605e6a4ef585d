"""The CLI names people: a contact's nickname, ``me``, else a short id (inbox, memory list)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.cli import main, messages_cmd
from gateway.cli.names import shown

BOB = "b0" * 32
STRANGER = "5e" * 32


def test_shown_prefers_the_nickname() -> None:
    names = {BOB: "bob"}
    assert shown(BOB, names) == "bob"
    assert shown(BOB.upper(), names) == "bob"
    assert shown(STRANGER, names) == STRANGER[:16]


def test_the_inbox_shows_the_senders_nickname(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``inbox`` showed a contact's id instead of the nickname given to it."""
    reply = {"messages": [
        {"id": 1, "from": BOB, "received": 0, "text": "hi"},
        {"id": 2, "from": STRANGER, "received": 0, "text": "yo"},
    ]}  # fmt: skip

    def call(cfg: Any, method: str, path: str, body: Any = None, **_: Any) -> Any:
        return reply

    monkeypatch.setattr(messages_cmd, "call", call)
    monkeypatch.setattr(messages_cmd, "load_config", lambda path: "CFG")
    monkeypatch.setattr(messages_cmd, "known_names", lambda cfg: {BOB: "bob"})
    assert main(["--config", "node.yaml", "inbox"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(" bob: hi") and out[1].endswith(f" {STRANGER[:16]}: yo")
