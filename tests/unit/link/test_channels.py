"""The link mux: channels, credit, refusals that keep the link up, PING/PONG."""

from __future__ import annotations

import pytest

from gateway.errors import EntryError, LinkError, QueueFullError
from gateway.link.channels import (
    AckReceived,
    ChannelError,
    ChannelOpened,
    ChannelRegistry,
    CreditGranted,
    DataReceived,
    Event,
    LinkClosed,
    LinkMux,
    MessageRejected,
    Outgoing,
    PongReceived,
)
from gateway.link.flow import INITIAL_WINDOW
from gateway.link.messages import (
    UNTRACKED,
    ChannelOpen,
    Credit,
    Data,
    Error,
    ErrorCode,
    LinkMessage,
    encode,
    make_msg_id,
)

CONTACT = b"c" * 32


def outgoing(events: list[Event]) -> list[LinkMessage]:
    return [e.message for e in events if isinstance(e, Outgoing)]


def deliver(mux: LinkMux, msgs: list[LinkMessage], now: float = 0.0) -> list[Event]:
    """Send ``msgs`` through the codec into ``mux``."""
    events: list[Event] = []
    for m in msgs:
        events += mux.receive_payload(encode(m), now)
    return events


def test_registry_refuses_bad_and_duplicate_names() -> None:
    reg = ChannelRegistry()
    reg.register("memory", lambda c, b: None)
    with pytest.raises(LinkError):
        reg.register("memory", lambda c, b: None)
    with pytest.raises(LinkError):
        reg.register("Bad Name", lambda c, b: None)
    assert reg.names() == {"memory"}
    with pytest.raises(LinkError):
        reg.dispatch(CONTACT, "converge", b"")


def test_two_channels_deliver_to_their_names() -> None:
    a, b = LinkMux(["memory", "converge"]), LinkMux(["memory", "converge"])
    msg_id = make_msg_id(b"epoch-01", 1)
    sent = a.send("memory", b"m1", msg_id) + a.send("converge", b"c1") + a.send("memory", b"m2")
    assert [type(m) for m in sent] == [ChannelOpen, Data, ChannelOpen, Data, Data]
    events = deliver(b, sent)
    assert ChannelOpened("memory") in events and ChannelOpened("converge") in events
    data = [e for e in events if isinstance(e, DataReceived)]
    assert data == [
        DataReceived("memory", msg_id, b"m1"),
        DataReceived("converge", UNTRACKED, b"c1"),
        DataReceived("memory", UNTRACKED, b"m2"),
    ]
    assert not b.rejections


def test_credit_exhaustion_queues_then_resumes_on_credit() -> None:
    a, b = LinkMux(["ping"]), LinkMux(["ping"])
    n = INITIAL_WINDOW.messages
    wire: list[LinkMessage] = []
    for i in range(n + 5):
        wire += a.send("ping", i.to_bytes(4, "big"))
    assert sum(isinstance(m, Data) for m in wire) == n
    assert a.queue_depth("ping") == 5
    events = deliver(b, wire)
    received = [e for e in events if isinstance(e, DataReceived)]
    assert len(received) == n
    credit: list[LinkMessage] = []
    for e in received:
        credit += b.consumed(e.channel, len(e.body))
    assert credit and all(isinstance(m, Credit) for m in credit)
    back = deliver(a, credit)
    assert any(isinstance(e, CreditGranted) for e in back)
    resumed = outgoing(back)
    assert [m.body for m in resumed if isinstance(m, Data)] == [
        i.to_bytes(4, "big") for i in range(n, n + 5)
    ]
    assert a.queue_depth("ping") == 0
    assert len([e for e in deliver(b, resumed) if isinstance(e, DataReceived)]) == 5


def test_byte_credit_also_limits() -> None:
    a = LinkMux(["memory"])
    big = bytes(INITIAL_WINDOW.nbytes // 2)
    sent = a.send("memory", big) + a.send("memory", big) + a.send("memory", b"x")
    assert sum(isinstance(m, Data) for m in sent) == 2
    assert a.queue_depth("memory") == 1


def test_queue_is_bounded() -> None:
    a = LinkMux(["memory"], max_queue=2)
    for _ in range(INITIAL_WINDOW.messages + 2):
        a.send("memory", b"x")
    with pytest.raises(QueueFullError):
        a.send("memory", b"x")


def test_unknown_channel_is_answered_and_the_mux_keeps_working() -> None:
    a, b = LinkMux(["memory", "secret"]), LinkMux(["memory"])
    events = deliver(b, a.send("secret", b"psst"))
    rejected = [e for e in events if isinstance(e, MessageRejected)]
    assert [r.code for r in rejected] == [ErrorCode.UNKNOWN_CHANNEL] * 2  # OPEN and DATA
    assert not any(isinstance(e, DataReceived) for e in events)
    errors = outgoing(events)
    assert all(isinstance(m, Error) and m.code == ErrorCode.UNKNOWN_CHANNEL for m in errors)
    assert b.rejections["unknown_channel"] == 2
    # the sender learns the channel was refused
    back = deliver(a, errors[:1])
    assert isinstance(back[0], ChannelError) and back[0].channel == "secret"
    with pytest.raises(LinkError):
        a.send("secret", b"again")
    # and the link still works
    events = deliver(b, a.send("memory", b"ok"))
    assert DataReceived("memory", UNTRACKED, b"ok") in events


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\x01\x7f", ErrorCode.UNKNOWN_TYPE),
        (b"\x09\x01", ErrorCode.VERSION),
        (b"\x01\x06\x00", ErrorCode.MALFORMED),
        (b"\x01", ErrorCode.MALFORMED),
    ],
)
def test_bad_payloads_are_rejected_not_raised(raw: bytes, code: ErrorCode) -> None:
    mux = LinkMux(["memory"])
    events = mux.receive_payload(raw, 0.0)
    assert isinstance(events[0], MessageRejected) and events[0].code == code
    reply = outgoing(events)
    assert len(reply) == 1 and isinstance(reply[0], Error) and reply[0].code == code
    assert mux.rejections[code.name.lower()] == 1


def test_data_beyond_credit_is_a_flow_violation() -> None:
    b = LinkMux(["memory"])
    msgs: list[LinkMessage] = [ChannelOpen(1, "memory")]
    msgs += [Data(1, UNTRACKED, b"") for _ in range(INITIAL_WINDOW.messages + 1)]
    events = deliver(b, msgs)
    assert sum(isinstance(e, DataReceived) for e in events) == INITIAL_WINDOW.messages
    assert b.rejections["flow_violation"] == 1


def test_channel_opened_twice_is_refused() -> None:
    b = LinkMux(["memory"])
    events = deliver(b, [ChannelOpen(1, "memory"), ChannelOpen(2, "memory")])
    assert b.rejections["protocol"] == 1
    assert sum(isinstance(e, ChannelOpened) for e in events) == 1


def test_ping_pong_rtt_uses_now() -> None:
    a, b = LinkMux([]), LinkMux([])
    ping = a.ping(now=100.0)
    pong = outgoing(deliver(b, [ping], now=100.2))
    events = deliver(a, pong, now=100.75)
    assert len(events) == 1 and isinstance(events[0], PongReceived)
    assert events[0].nonce == ping.nonce and events[0].rtt == pytest.approx(0.75)
    # a PONG nobody asked for is counted, not raised
    again = deliver(a, pong, now=101.0)
    assert isinstance(again[0], MessageRejected)


def test_handler_replies_and_credit() -> None:
    reg = ChannelRegistry()
    seen: list[tuple[bytes, bytes]] = []

    def echo(contact: bytes, body: bytes) -> list[bytes]:
        seen.append((contact, body))
        return [body.upper()]

    reg.register("echo", echo)
    a, b = LinkMux(["echo"]), LinkMux(reg)
    events = deliver(b, a.send("echo", b"hi"))
    data = next(e for e in events if isinstance(e, DataReceived))
    out = outgoing(b.handle(data, reg, CONTACT))
    assert seen == [(CONTACT, b"hi")]
    assert isinstance(out[0], ChannelOpen)
    assert Data(out[0].channel, UNTRACKED, b"HI") in out
    back = deliver(a, out)
    assert DataReceived("echo", UNTRACKED, b"HI") in back


def test_handler_failure_is_an_error_message() -> None:
    reg = ChannelRegistry()

    def bad(contact: bytes, body: bytes) -> None:
        raise EntryError("malformed", "nope")

    reg.register("memory", bad)
    a, b = LinkMux(["memory"]), LinkMux(reg)
    data = next(e for e in deliver(b, a.send("memory", b"x")) if isinstance(e, DataReceived))
    events = b.handle(data, reg, CONTACT)
    assert any(
        isinstance(e, MessageRejected) and e.code == ErrorCode.HANDLER_FAILED for e in events
    )
    assert b.rejections["handler_failed"] == 1


def test_acks_and_close() -> None:
    a, b = LinkMux([]), LinkMux([])
    ids = [make_msg_id(b"epochxyz", i) for i in range(1, 2000)]
    acks = a.ack([UNTRACKED, *ids])
    assert len(acks) == 2
    got = [e for e in deliver(b, acks) if isinstance(e, AckReceived)]
    assert [m for e in got for m in e.msg_ids] == ids
    close = a.close(reason="bye")
    assert a.closed
    with pytest.raises(LinkError):
        a.send("memory", b"")
    assert deliver(b, [close]) == [LinkClosed(ErrorCode.NORMAL_CLOSE, "bye")]
    assert b.closed


def test_oversized_send_is_refused() -> None:
    with pytest.raises(LinkError):
        LinkMux(["memory"]).send("memory", bytes(INITIAL_WINDOW.nbytes))
