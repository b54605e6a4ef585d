from __future__ import annotations

from pathlib import Path

import pytest
import stem.response

from gateway.errors import ControlError
from gateway.tor.controller import LogMessage, TorControl, convert_event
from gateway.tor.hsdesc import HsDescEvent

ADDR = "f" * 56
FP = "ABCDEF0123456789ABCDEF0123456789ABCDEF01"


def event(line: str) -> object:
    msg = stem.response.ControlMessage.from_str(f"650 {line}\r\n")
    stem.response.convert("EVENT", msg)
    return msg


def test_convert_hs_desc() -> None:
    converted = convert_event(
        event(f"HS_DESC UPLOADED {ADDR} UNKNOWN $ABCDEF0123456789ABCDEF0123456789ABCDEF01~relay1")
    )
    assert isinstance(converted, HsDescEvent)
    assert converted.action == "UPLOADED" and converted.address == ADDR
    assert converted.directory == "ABCDEF0123456789ABCDEF0123456789ABCDEF01"


def test_convert_hs_desc_failure_reason() -> None:
    converted = convert_event(event(f"HS_DESC FAILED {ADDR} UNKNOWN ${FP} REASON=UPLOAD_REJECTED"))
    assert isinstance(converted, HsDescEvent) and converted.reason == "UPLOAD_REJECTED"


def test_convert_log_event() -> None:
    converted = convert_event(event("WARN Problem bootstrapping. Stuck at 14%"))
    assert isinstance(converted, LogMessage)
    assert converted == "[warn] Problem bootstrapping. Stuck at 14%"


def test_convert_status_event_keeps_the_line() -> None:
    line = 'STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=50 TAG=loading SUMMARY="Loading"'
    converted = convert_event(event(line))
    assert not isinstance(converted, (HsDescEvent, LogMessage))
    assert "PROGRESS=50" in converted


async def test_connect_missing_socket_is_control_error(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="cannot connect to tor's control"):
        await TorControl.connect(socket_path=tmp_path / "none.sock")


async def test_connect_needs_a_target() -> None:
    with pytest.raises(ControlError, match="no control socket or port"):
        await TorControl.connect()
