"""``gateway run`` as root logs a warning that says what to do instead."""

from __future__ import annotations

import logging

import pytest

from gateway.cli import run_cmd


def test_root_gets_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(run_cmd.os, "geteuid", lambda: 0)
    with caplog.at_level(logging.WARNING, logger="gateway.node"):
        assert run_cmd.warn_if_root() is True
    assert "running as root" in caplog.text and "gateway service install" in caplog.text


def test_an_ordinary_user_gets_none(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(run_cmd.os, "geteuid", lambda: 1000)
    with caplog.at_level(logging.WARNING, logger="gateway.node"):
        assert run_cmd.warn_if_root() is False
    assert caplog.text == ""
