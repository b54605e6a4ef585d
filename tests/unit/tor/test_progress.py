from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import BootstrapError
from gateway.tor.progress import (
    MAX_WARNINGS,
    BootstrapPhase,
    BootstrapTracker,
    parse_bootstrap_phase,
    parse_keywords,
    render_bar,
    render_line,
)

NOTICE = 'NOTICE BOOTSTRAP PROGRESS=45 TAG=loading_descriptors SUMMARY="Loading relay descriptors"'
WARN = (
    'STATUS_CLIENT WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" '
    'WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=ignore'
)


def test_parse_getinfo_line() -> None:
    phase = parse_bootstrap_phase(NOTICE)
    assert phase == BootstrapPhase(45, "loading_descriptors", "Loading relay descriptors")
    assert not phase.done


def test_parse_warning_event() -> None:
    phase = parse_bootstrap_phase(WARN)
    assert phase is not None
    assert (phase.progress, phase.tag, phase.warning) == (5, "conn", "Connection refused")


def test_notice_line_has_no_warning_even_with_keyword() -> None:
    phase = parse_bootstrap_phase('NOTICE BOOTSTRAP PROGRESS=1 TAG=a SUMMARY="b" WARNING="x"')
    assert phase is not None and phase.warning is None


def test_done_at_100() -> None:
    phase = parse_bootstrap_phase('NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"')
    assert phase is not None and phase.done


def test_quoted_values_are_unescaped() -> None:
    words = parse_keywords(r'A=1 B="say \"hi\" \\ there" C=')
    assert words == {"A": "1", "B": 'say "hi" \\ there', "C": ""}


def test_not_bootstrap_lines() -> None:
    assert parse_bootstrap_phase("NOTICE CIRCUIT_ESTABLISHED") is None
    assert parse_bootstrap_phase("NOTICE BOOTSTRAP TAG=x") is None
    assert parse_bootstrap_phase("NOTICE BOOTSTRAP PROGRESS=abc") is None
    assert parse_bootstrap_phase("NOTICE BOOTSTRAP PROGRESS=101 TAG=x") is None


def test_render_line() -> None:
    phase = BootstrapPhase(45, "loading_descriptors", "Loading relay descriptors")
    assert render_line(phase) == "bootstrap 45% (loading_descriptors): Loading relay descriptors"


@given(st.integers(0, 100), st.integers(5, 60))
def test_bar_width_is_constant(progress: int, width: int) -> None:
    bar = render_bar(BootstrapPhase(progress, "t", "s"), width)
    inner = bar[1 : bar.index("]")]
    assert len(inner) == width
    assert inner.count("#") == progress * width // 100
    assert f"{progress}%" in bar


def test_tracker_changes_and_warnings() -> None:
    tracker = BootstrapTracker()
    first = BootstrapPhase(10, "conn_pt", "x")
    assert tracker.on_phase(first)
    assert not tracker.on_phase(first)
    assert tracker.on_phase(BootstrapPhase(50, "loading", "y"))
    assert not tracker.on_phase(BootstrapPhase(45, "back", "z"))  # a step back is not shown
    assert tracker.last == BootstrapPhase(45, "back", "z")  # but remembered
    tracker.on_phase(BootstrapPhase(10, "conn_pt", "x", warning="refused"))
    tracker.on_warning("[warn] refused")
    tracker.on_warning("[warn] refused")
    assert tracker.warnings == ["conn_pt: refused", "[warn] refused"]
    assert not tracker.done
    tracker.on_phase(BootstrapPhase(100, "done", "Done"))
    assert tracker.done


def test_tracker_keeps_last_warnings_only() -> None:
    tracker = BootstrapTracker()
    for i in range(MAX_WARNINGS + 7):
        tracker.on_warning(f"w{i}")
    assert len(tracker.warnings) == MAX_WARNINGS
    assert tracker.warnings[-1] == f"w{MAX_WARNINGS + 6}"


def test_tracker_error_names_phase_and_warnings() -> None:
    tracker = BootstrapTracker()
    tracker.on_phase(BootstrapPhase(14, "handshake", "Handshaking with a relay"))
    tracker.on_warning("[warn] Problem bootstrapping")
    err = tracker.error("tor did not bootstrap within 5 s")
    assert isinstance(err, BootstrapError)
    assert err.last_phase == "14% (handshake): Handshaking with a relay"
    assert err.warnings == ("[warn] Problem bootstrapping",)
    assert "handshake" in str(err) and "Problem bootstrapping" in str(err)


def test_tracker_error_without_phase() -> None:
    err = BootstrapTracker().error("no")
    assert err.last_phase is None and str(err) == "no"
