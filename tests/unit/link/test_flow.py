"""Credit windows of one channel direction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import LinkError
from gateway.link.flow import MAX_CREDIT, ReceiveWindow, SendCredit, Window


def test_send_credit_counts_messages_and_bytes() -> None:
    credit = SendCredit(Window(messages=3, nbytes=10))
    assert credit.can_send(6)
    credit.take(6)
    assert not credit.can_send(5)  # 4 bytes left
    credit.take(4)
    assert credit.available == Window(1, 0)
    credit.take(0)  # an empty body still uses a message
    assert not credit.can_send(0)
    with pytest.raises(LinkError):
        credit.take(0)


def test_grant_refuses_overflow() -> None:
    credit = SendCredit(Window(1, 1))
    assert not credit.grant(MAX_CREDIT, 0)
    assert credit.available == Window(1, 1)
    assert credit.grant(3, 5)
    assert credit.available == Window(4, 6)


def test_receive_window_refuses_beyond_credit() -> None:
    window = ReceiveWindow(Window(messages=2, nbytes=100))
    assert window.accept(60)
    assert not window.accept(50)  # 40 bytes left
    assert window.remaining == Window(1, 40)


def test_consumed_more_than_accepted_is_an_error() -> None:
    window = ReceiveWindow(Window(4, 100))
    with pytest.raises(LinkError):
        window.consumed(1)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=200))
def test_grants_keep_the_sender_within_the_window(sizes: list[int]) -> None:
    """Sender and receiver, in lockstep: the sender never holds more than one window."""
    initial = Window(messages=8, nbytes=200)
    sender, receiver = SendCredit(initial), ReceiveWindow(initial)
    for size in sizes:
        if not sender.can_send(size):
            continue
        sender.take(size)
        assert receiver.accept(size)
        grant = receiver.consumed(size)
        if grant is not None:
            assert sender.grant(grant.messages, grant.nbytes)
        held = sender.available
        assert held.messages <= initial.messages and held.nbytes <= initial.nbytes
        assert held == receiver.remaining
