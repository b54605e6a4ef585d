from __future__ import annotations

import asyncio
import io

import pytest

from gateway.errors import BootstrapError
from gateway.tor import bootstrap
from gateway.tor.controller import LogMessage
from gateway.tor.display import ProgressDisplay
from tests.unit.tor.fakes import FakeControl


def phase(progress: int, tag: str, summary: str) -> str:
    return f'NOTICE BOOTSTRAP PROGRESS={progress} TAG={tag} SUMMARY="{summary}"'


@pytest.fixture(autouse=True)
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "POLL_INTERVAL", 0.01)


async def test_returns_at_100_and_shows_each_phase() -> None:
    control = FakeControl(
        [
            phase(0, "starting", "Starting"),
            phase(50, "loading", "Loading"),
            phase(100, "done", "Done"),
        ]
    )
    out = io.StringIO()
    tracker = await bootstrap.wait_for_bootstrap(
        control,  # type: ignore[arg-type]
        timeout=5,
        display=ProgressDisplay(out),
    )
    assert tracker.done
    assert out.getvalue().splitlines() == [
        "bootstrap 0% (starting): Starting",
        "bootstrap 50% (loading): Loading",
        "bootstrap 100% (done): Done",
    ]


async def test_timeout_names_last_phase_and_warnings() -> None:
    control = FakeControl([phase(14, "handshake", "Handshaking with a relay")])
    waiter = asyncio.ensure_future(
        bootstrap.wait_for_bootstrap(control, timeout=0.2)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.05)
    control.emit("WARN", LogMessage("[warn] Problem bootstrapping. Stuck at 14%"))
    with pytest.raises(BootstrapError) as info:
        await waiter
    err = info.value
    assert err.last_phase == "14% (handshake): Handshaking with a relay"
    assert err.warnings == ("[warn] Problem bootstrapping. Stuck at 14%",)
    assert "within 0.2 s" in str(err)


async def test_status_events_feed_warnings() -> None:
    control = FakeControl([phase(5, "conn", "Connecting")])
    waiter = asyncio.ensure_future(
        bootstrap.wait_for_bootstrap(control, timeout=0.15)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.03)
    control.emit(
        "STATUS_CLIENT",
        'STATUS_CLIENT WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting" WARNING="refused"',
    )
    with pytest.raises(BootstrapError) as info:
        await waiter
    assert info.value.warnings == ("conn: refused",)


async def test_tor_death_ends_the_wait() -> None:
    control = FakeControl([phase(5, "conn", "Connecting")])
    with pytest.raises(BootstrapError) as info:
        await bootstrap.wait_for_bootstrap(
            control,  # type: ignore[arg-type]
            timeout=30,
            death_probe=lambda: "tor exited with status 1",
        )
    assert "exited during bootstrap (tor exited with status 1)" in str(info.value)
    assert info.value.last_phase == "5% (conn): Connecting"


async def test_closed_control_ends_the_wait() -> None:
    control = FakeControl([phase(5, "conn", "Connecting")])
    control.alive = False
    with pytest.raises(BootstrapError, match="control closed"):
        await bootstrap.wait_for_bootstrap(control, timeout=30)  # type: ignore[arg-type]
