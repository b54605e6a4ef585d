from __future__ import annotations

import io

from gateway.tor.display import ProgressDisplay
from gateway.tor.progress import BootstrapPhase

P1 = BootstrapPhase(10, "conn", "Connecting")
P2 = BootstrapPhase(100, "done", "Done")


def test_plain_lines_when_not_a_tty() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out)
    display.show(P1)
    display.show(P2)
    display.finish()
    assert out.getvalue() == "bootstrap 10% (conn): Connecting\nbootstrap 100% (done): Done\n"


def test_bar_on_a_tty_rewrites_one_line() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, tty=True)
    display.show(P1)
    display.show(P2)
    display.finish()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert " 10% conn" in text and "100% done" in text


def test_finish_without_bar_writes_nothing() -> None:
    out = io.StringIO()
    ProgressDisplay(out, tty=True).finish()
    assert out.getvalue() == ""
