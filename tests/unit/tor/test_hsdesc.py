from __future__ import annotations

from gateway.errors import PublishError
from gateway.tor.hsdesc import HsDescEvent, PublicationTracker, is_upload_of, normalize_address

ADDR = "a" * 56
OTHER = "b" * 56


def test_normalize() -> None:
    assert normalize_address(" " + ADDR.upper() + ".ONION") == ADDR


def test_is_upload_of() -> None:
    assert is_upload_of(HsDescEvent("UPLOADED", ADDR), ADDR + ".onion")
    assert not is_upload_of(HsDescEvent("UPLOAD", ADDR), ADDR)
    assert not is_upload_of(HsDescEvent("UPLOADED", OTHER), ADDR)
    assert not is_upload_of(HsDescEvent("RECEIVED", ADDR), ADDR)


def test_tracker_ignores_other_addresses() -> None:
    tracker = PublicationTracker(ADDR)
    assert not tracker.feed(HsDescEvent("UPLOADED", OTHER))
    assert not tracker.published


def test_tracker_counts_then_publishes() -> None:
    tracker = PublicationTracker(ADDR)
    assert not tracker.feed(HsDescEvent("UPLOAD", ADDR, "$F1"))
    assert not tracker.feed(HsDescEvent("FAILED", ADDR, "$F1", "UPLOAD_REJECTED"))
    assert tracker.uploads_started == 1
    assert tracker.failures == ["$F1: UPLOAD_REJECTED"]
    assert tracker.feed(HsDescEvent("UPLOADED", ADDR, "$F2"))
    assert tracker.feed(HsDescEvent("UPLOAD", ADDR))  # stays published


def test_error_reports_progress() -> None:
    tracker = PublicationTracker(ADDR)
    tracker.feed(HsDescEvent("UPLOAD", ADDR))
    tracker.feed(HsDescEvent("FAILED", ADDR, reason="NOT_FOUND"))
    err = tracker.error(2.5)
    assert isinstance(err, PublishError)
    assert "2.5 s" in str(err) and "1 uploads started, 1 failed" in str(err)
    assert "NOT_FOUND" in str(err)
