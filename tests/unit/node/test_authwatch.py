"""The client-authorization watcher: a change by content calls back; a rewrite does not."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from gateway.contacts.client_auth import ClientAuthKey, write_authorized_client
from gateway.node import authwatch


async def test_only_a_change_of_content_calls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pairing rewrites the .auth file its invite already wrote (same key): no restart of
    tor for that. A new key, or a removed one, is a change."""
    monkeypatch.setattr(authwatch, "INTERVAL", 0.01)
    folder = tmp_path / "authorized_clients"
    key = ClientAuthKey.generate().public
    path = write_authorized_client(folder, key)
    calls: list[int] = []
    changed = asyncio.Event()

    def on_change() -> None:
        calls.append(1)
        changed.set()

    task = asyncio.create_task(authwatch.watch((folder,), on_change, "restarting tor"))
    await asyncio.sleep(0.05)
    write_authorized_client(folder, key)  # the same content again, a new mtime
    later = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))
    await asyncio.sleep(0.1)
    assert calls == []
    write_authorized_client(folder, ClientAuthKey.generate().public)
    await asyncio.wait_for(changed.wait(), 5)
    changed.clear()
    path.unlink()
    await asyncio.wait_for(changed.wait(), 5)
    assert len(calls) == 2
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
