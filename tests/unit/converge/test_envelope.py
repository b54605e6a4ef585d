"""The ``converge`` channel envelope: direction, round id, message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.converge.envelope import HEADER, TO_ASKER, TO_PARTICIPANT, unwrap, wrap
from gateway.converge.round import ROUND_ID_BYTES
from gateway.errors import ConvergeMessageError

RID = bytes(range(ROUND_ID_BYTES))


@given(
    st.sampled_from([TO_PARTICIPANT, TO_ASKER]),
    st.binary(min_size=ROUND_ID_BYTES, max_size=ROUND_ID_BYTES),
    st.binary(min_size=1, max_size=200),
)
def test_wrap_unwrap_round_trips(direction: int, rid: bytes, data: bytes) -> None:
    body = wrap(direction, rid, data)
    assert len(body) == HEADER + len(data)
    assert unwrap(body) == (direction, rid, data)


def test_layout_is_direction_then_round_id_then_message() -> None:
    assert wrap(TO_ASKER, RID, b"msg") == b"\x01" + RID + b"msg"
    assert wrap(TO_PARTICIPANT, RID, b"m") == b"\x00" + RID + b"m"
    assert HEADER == 1 + ROUND_ID_BYTES


@pytest.mark.parametrize(
    ("direction", "rid"), [(2, RID), (-1, RID), (TO_ASKER, RID[:-1]), (TO_ASKER, RID + b"x")]
)
def test_wrap_refuses_bad_direction_or_round_id(direction: int, rid: bytes) -> None:
    with pytest.raises(ConvergeMessageError):
        wrap(direction, rid, b"data")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00",
        b"\x01" + RID,  # no message after the header
        b"\x01" + RID[:10],
        b"\x02" + RID + b"msg",
        b"\xff" + RID + b"msg",
    ],
)
def test_unwrap_refuses_malformed_envelopes(body: bytes) -> None:
    with pytest.raises(ConvergeMessageError, match="malformed converge envelope"):
        unwrap(body)
