from __future__ import annotations

import pytest

from gateway.config.schema import OnTorDeath
from gateway.errors import TorDiedError
from gateway.tor.watchdog import Action, decide


def test_exit_policy_exits_at_once() -> None:
    d = decide(OnTorDeath.EXIT, "tor was killed by SIGKILL", restarts_done=0, max_restarts=3)
    assert d.action is Action.EXIT
    err = d.error()
    assert isinstance(err, TorDiedError)
    assert "SIGKILL" in str(err) and "exit" in str(err)


@pytest.mark.parametrize("done", [0, 1, 2])
def test_restart_until_the_limit(done: int) -> None:
    d = decide(OnTorDeath.RESTART, "gone", restarts_done=done, max_restarts=3)
    assert d.action is Action.RESTART
    assert f"{done + 1} of 3" in d.message


def test_gives_up_after_max_restarts() -> None:
    d = decide(OnTorDeath.RESTART, "gone", restarts_done=3, max_restarts=3)
    assert d.action is Action.EXIT
    assert "gave up after 3" in d.message


def test_zero_restarts_allowed_means_exit() -> None:
    assert decide(OnTorDeath.RESTART, "x", restarts_done=0, max_restarts=0).action is Action.EXIT
