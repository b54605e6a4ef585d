"""Reaching an onion afresh: which of tor's circuits wait on it, and the refresh itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gateway.errors import ControlError
from gateway.tor.hsclient import refresh, unjoined_circuits

X = "a" * 52 + "bcdd"
Y = "b" * 52 + "cdee"

# control-spec 4.1.1 circuit-status lines (paths shortened), as tor 0.4.9 writes them
STATUS = "\n".join(
    [
        "27 BUILT $67C6~test005r,$CC31~test002a,$05E9~test001a"
        " BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY"
        f" PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_ESTABLISHED_WAITING REND_QUERY={X}"
        " TIME_CREATED=2026-12-04T11:42:17.000000",
        f"28 BUILT $67C6~test005r,$CC31~test002a,$5C2F~test003r,$05E9~test001a"
        f" BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY,NEED_UPTIME PURPOSE=HS_CLIENT_INTRO"
        f" HS_STATE=HSCI_INTRO_SENT REND_QUERY={X} TIME_CREATED=2026-12-04T11:42:17.000000",
        f"31 BUILT $67C6~test005r,$A381~test004r,$A451~test000a BUILD_FLAGS=IS_INTERNAL"
        f" PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_JOINED REND_QUERY={X}",
        f"32 EXTENDED $67C6~test005r PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_CONNECTING"
        f" REND_QUERY={X.upper()}.onion",
        f"40 BUILT $67C6~test005r PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_ESTABLISHED_WAITING"
        f" REND_QUERY={Y}",
        f"41 BUILT $67C6~test005r PURPOSE=HS_SERVICE_REND HS_STATE=HSSR_JOINED REND_QUERY={X}",
        "50 BUILT $67C6~test005r,$A381~test004r BUILD_FLAGS=IS_INTERNAL PURPOSE=GENERAL",
        "",
    ]
)


def test_the_circuits_that_wait_on_one_onion() -> None:
    # the waiting rendezvous, the introduction and the one still connecting, not the
    # joined one (it carries streams), not another onion's, not our service's, not general
    assert unjoined_circuits(STATUS, X) == ["27", "28", "32"]
    assert unjoined_circuits(STATUS, f"{X}.onion") == ["27", "28", "32"]
    assert unjoined_circuits(STATUS, Y) == ["40"]
    assert unjoined_circuits(STATUS, "c" * 56) == []
    assert unjoined_circuits("", X) == []
    assert unjoined_circuits("250 OK\nnot a circuit line", X) == []


class Reply:
    def __init__(self, ok: bool) -> None:
        self.ok = ok

    def is_ok(self) -> bool:
        return self.ok


class Stem:
    def __init__(self, gone: set[str]) -> None:
        self.sent: list[str] = []
        self.gone = gone

    def msg(self, text: str) -> Reply:
        self.sent.append(text)
        return Reply(text.split()[-1] not in self.gone)


class Control:
    def __init__(self, status: str | None, gone: frozenset[str] = frozenset()) -> None:
        self.status = status
        self.stem = Stem(set(gone))

    async def get_info(self, key: str) -> str:
        assert key == "circuit-status"
        if self.status is None:
            raise ControlError("552 circuit-status not allowed here")
        return self.status

    async def call(self, func: Callable[..., Any], *args: Any) -> Any:
        return func(*args)


def test_refresh_closes_them_then_fetches_the_descriptor_again() -> None:
    control = Control(STATUS, gone=frozenset({"28"}))  # 28 closed meanwhile: tor answers 552
    closed = asyncio.run(refresh(control, f"{X}.onion"))  # type: ignore[arg-type]
    assert control.stem.sent == [
        "CLOSECIRCUIT 27",
        "CLOSECIRCUIT 28",
        "CLOSECIRCUIT 32",
        f"HSFETCH {X}",
    ]
    assert closed == 2


def test_refresh_with_nothing_waiting_only_fetches() -> None:
    control = Control(STATUS)
    assert asyncio.run(refresh(control, "c" * 56)) == 0  # type: ignore[arg-type]
    assert control.stem.sent == [f"HSFETCH {'c' * 56}"]


def test_a_control_port_that_refuses_circuit_status_still_gets_the_refetch() -> None:
    control = Control(None)
    assert asyncio.run(refresh(control, X)) == 0  # type: ignore[arg-type]
    assert control.stem.sent == [f"HSFETCH {X}"]
