"""What a test needs from the machine: missing under ``CI=true`` is a failure, else a skip."""

from __future__ import annotations

import os
import shutil

import pytest


def need(present: bool, message: str) -> None:
    """Fail (under CI=true) or skip (elsewhere, with the reason) unless ``present``."""
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def need_program(name: str, message: str) -> str:
    """The path of program ``name`` on PATH (see :func:`need`)."""
    path = shutil.which(name)
    need(path is not None, message)
    assert path is not None
    return path


def need_chromium() -> str:
    """Debian's chromium, for the dashboard's browser tests."""
    return need_program(
        "chromium",
        "the dashboard tests need Debian's 'chromium' package (apt-get install chromium)",
    )
