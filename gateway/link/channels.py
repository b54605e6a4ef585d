"""Channels: several named protocols on one link, with flow control, as a sans-I/O mux.

A channel id names one *direction* of a channel: the sender of DATA picks it and
announces it with CHANNEL_OPEN; CREDIT and ERROR about that direction carry the
same id back. Each side opens its own direction of a name on its first send.

:class:`LinkMux` takes decoded messages (or payload bytes) and returns events;
anything to send back comes out as :class:`Outgoing` events or as the return
value of the sending calls. Input the mux refuses (unknown channel or type,
malformed, beyond credit) is answered with an ERROR message and counted in
:attr:`LinkMux.rejections`; it never raises, so the link stays up.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass

from gateway.errors import FrameError, GatewayError, LinkError, QueueFullError, VersionError
from gateway.link.flow import ReceiveWindow, SendCredit
from gateway.link.messages import (
    MAX_ACK_IDS,
    MAX_BODY,
    MAX_CHANNEL,
    MAX_TEXT,
    UNTRACKED,
    Ack,
    ChannelOpen,
    Close,
    Credit,
    Data,
    Error,
    ErrorCode,
    LinkMessage,
    Ping,
    Pong,
    decode,
    is_channel_name,
    is_known_type,
    peek_type,
)

#: handler(contact id, body) -> replies to send back on the same channel (or None)
Handler = Callable[[bytes, bytes], Iterable[bytes] | None]

#: most channels the peer may open toward us
MAX_CHANNELS = 64
#: default bound of the queue of messages waiting for credit, per channel
DEFAULT_MAX_QUEUE = 1024
#: most unanswered PINGs remembered (older ones are forgotten)
MAX_PINGS = 16


class ChannelRegistry:
    """The protocols this node speaks on its links, each with its handler."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, name: str, handler: Handler) -> None:
        """Handle channel ``name``; LinkError if the name is invalid or already taken."""
        if not is_channel_name(name):
            raise LinkError(f"bad channel name {name!r}: 1-32 of [a-z0-9._-], alnum first")
        if name in self._handlers:
            raise LinkError(f"channel {name!r} is already registered")
        self._handlers[name] = handler

    def names(self) -> frozenset[str]:
        """The registered channel names."""
        return frozenset(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def dispatch(self, contact: bytes, name: str, body: bytes) -> list[bytes]:
        """Run the handler of ``name`` on ``body``; its replies."""
        handler = self._handlers.get(name)
        if handler is None:
            raise LinkError(f"no handler for channel {name!r}")
        return list(handler(contact, body) or ())


# --- events ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelOpened:
    """The peer opened its direction of channel ``name``."""

    channel: str


@dataclass(frozen=True, slots=True)
class DataReceived:
    """A message for channel ``channel``; call :meth:`LinkMux.consumed` once handled."""

    channel: str
    msg_id: bytes
    body: bytes


@dataclass(frozen=True, slots=True)
class AckReceived:
    """The peer acknowledged these tracked messages end to end."""

    msg_ids: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class CreditGranted:
    """The peer granted credit on ``channel`` (queued messages may have gone out)."""

    channel: str
    messages: int
    nbytes: int


@dataclass(frozen=True, slots=True)
class ChannelError:
    """The peer refused something; ``channel`` is None for the link as a whole.

    ``dropped`` counts queued messages discarded because the peer refused the channel.
    """

    code: int
    channel: str | None
    detail: str
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The answer to our PING ``nonce``, ``rtt`` seconds after it was made."""

    nonce: int
    rtt: float


@dataclass(frozen=True, slots=True)
class LinkClosed:
    """The peer closed the link."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class MessageRejected:
    """This side refused a message from the peer (counted; an ERROR went back)."""

    code: ErrorCode
    detail: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send to the peer."""

    message: LinkMessage


Event = (
    ChannelOpened
    | DataReceived
    | AckReceived
    | CreditGranted
    | ChannelError
    | PongReceived
    | LinkClosed
    | MessageRejected
    | Outgoing
)


# --- the mux -----------------------------------------------------------------------


@dataclass(slots=True)
class _OutChannel:
    id: int
    name: str
    credit: SendCredit
    queue: collections.deque[Data]
    refused: bool = False


@dataclass(slots=True)
class _InChannel:
    name: str
    window: ReceiveWindow


def _clip(text: str) -> str:
    return text.encode("utf-8")[:MAX_TEXT].decode("utf-8", errors="ignore")


class LinkMux:
    """Channels of one link: opens, sends under credit, receives, refuses politely.

    ``channels`` holds the names this side accepts (a :class:`ChannelRegistry`
    or any container), looked up at each CHANNEL_OPEN.
    """

    def __init__(self, channels: Container[str], *, max_queue: int = DEFAULT_MAX_QUEUE) -> None:
        self._known = channels
        self._max_queue = max_queue
        self._out: dict[str, _OutChannel] = {}
        self._out_by_id: dict[int, _OutChannel] = {}
        self._in: dict[int, _InChannel] = {}
        self._in_by_name: dict[str, int] = {}
        self._pings: collections.OrderedDict[int, float] = collections.OrderedDict()
        self._nonces = itertools.count(1)
        self.rejections: collections.Counter[str] = collections.Counter()
        self.closed = False

    # -- sending --

    def _open_out(self, name: str) -> tuple[_OutChannel, list[LinkMessage]]:
        chan = self._out.get(name)
        if chan is not None:
            return chan, []
        if not is_channel_name(name):
            raise LinkError(f"bad channel name {name!r}")
        if len(self._out) >= MAX_CHANNEL:
            raise LinkError("no free channel ids on this link")
        chan = _OutChannel(len(self._out) + 1, name, SendCredit(), collections.deque())
        self._out[name] = chan
        self._out_by_id[chan.id] = chan
        return chan, [ChannelOpen(chan.id, name)]

    def send(self, channel: str, body: bytes, msg_id: bytes = UNTRACKED) -> list[LinkMessage]:
        """Messages that send ``body`` on ``channel`` now (none if it had to queue)."""
        if self.closed:
            raise LinkError("the link is closed")
        if len(body) > MAX_BODY:
            raise LinkError(f"message of {len(body)} bytes exceeds {MAX_BODY}")
        chan, out = self._open_out(channel)
        if chan.refused:
            raise LinkError(f"the peer refused channel {channel!r}")
        data = Data(chan.id, msg_id, body)
        if chan.queue or not chan.credit.can_send(len(body)):
            if len(chan.queue) >= self._max_queue:
                raise QueueFullError(f"channel {channel!r}: {len(chan.queue)} messages queued")
            chan.queue.append(data)
            return out
        chan.credit.take(len(body))
        out.append(data)
        return out

    def _flush(self, chan: _OutChannel) -> list[Event]:
        sent: list[Event] = []
        while chan.queue and chan.credit.can_send(len(chan.queue[0].body)):
            data = chan.queue.popleft()
            chan.credit.take(len(data.body))
            sent.append(Outgoing(data))
        return sent

    def queue_depth(self, channel: str) -> int:
        """Messages of ``channel`` waiting for credit."""
        chan = self._out.get(channel)
        return len(chan.queue) if chan else 0

    def ack(self, msg_ids: Iterable[bytes]) -> list[LinkMessage]:
        """ACK messages for these tracked ids (split to fit)."""
        ids = tuple(m for m in msg_ids if m != UNTRACKED)
        return [Ack(ids[i : i + MAX_ACK_IDS]) for i in range(0, len(ids), MAX_ACK_IDS)]

    def ping(self, now: float) -> Ping:
        """A PING; its PONG gives a :class:`PongReceived` with the RTT."""
        nonce = next(self._nonces)
        self._pings[nonce] = now
        while len(self._pings) > MAX_PINGS:
            self._pings.popitem(last=False)
        return Ping(nonce)

    def close(self, code: int = ErrorCode.NORMAL_CLOSE, reason: str = "") -> Close:
        """The CLOSE message; the mux sends nothing more."""
        self.closed = True
        return Close(code, _clip(reason))

    # -- receiving --

    def consumed(self, channel: str, size: int) -> list[LinkMessage]:
        """The handler of ``channel`` finished a message of ``size`` bytes: CREDIT, if due."""
        cid = self._in_by_name.get(channel)
        if cid is None:
            raise LinkError(f"channel {channel!r} is not open toward us")
        grant = self._in[cid].window.consumed(size)
        return [Credit(cid, grant.messages, grant.nbytes)] if grant else []

    def handle(self, event: DataReceived, registry: ChannelRegistry, contact: bytes) -> list[Event]:
        """Run the registered handler on ``event``: replies, CREDIT, or an ERROR if it failed."""
        out: list[Event] = []
        try:
            replies = registry.dispatch(contact, event.channel, event.body)
        except GatewayError as exc:
            replies = []
            cid = self._in_by_name.get(event.channel, 0)
            out += self._reject(ErrorCode.HANDLER_FAILED, cid, f"{type(exc).__name__}: {exc}")
        for reply in replies:
            out += [Outgoing(m) for m in self.send(event.channel, reply)]
        out += [Outgoing(m) for m in self.consumed(event.channel, len(event.body))]
        return out

    def _reject(self, code: ErrorCode, channel: int, detail: str) -> list[Event]:
        self.rejections[code.name.lower()] += 1
        detail = _clip(detail)
        return [MessageRejected(code, detail), Outgoing(Error(code, channel, detail))]

    def receive_payload(self, payload: bytes, now: float) -> list[Event]:
        """Decode one session payload and :meth:`receive` it; refuse it if it is not valid."""
        try:
            msg = decode(payload)
        except VersionError as exc:
            return self._reject(ErrorCode.VERSION, 0, str(exc))
        except FrameError as exc:
            kind = peek_type(payload)
            unknown = kind is not None and not is_known_type(kind)
            code = ErrorCode.UNKNOWN_TYPE if unknown else ErrorCode.MALFORMED
            return self._reject(code, 0, str(exc))
        return self.receive(msg, now)

    def receive(self, msg: LinkMessage, now: float) -> list[Event]:
        """The events of one decoded message from the peer."""
        match msg:
            case ChannelOpen():
                return self._on_open(msg)
            case Data():
                return self._on_data(msg)
            case Ack(msg_ids):
                return [AckReceived(msg_ids)]
            case Credit():
                return self._on_credit(msg)
            case Error():
                return self._on_error(msg)
            case Ping(nonce):
                return [Outgoing(Pong(nonce))]
            case Pong(nonce):
                sent = self._pings.pop(nonce, None)
                if sent is None:
                    return self._reject(ErrorCode.PROTOCOL, 0, f"PONG {nonce} was not asked for")
                return [PongReceived(nonce, max(0.0, now - sent))]
            case Close(code, reason):
                self.closed = True
                return [LinkClosed(code, reason)]
        return self._reject(ErrorCode.UNKNOWN_TYPE, 0, type(msg).__name__)

    def _on_open(self, msg: ChannelOpen) -> list[Event]:
        if msg.name not in self._known:
            return self._reject(ErrorCode.UNKNOWN_CHANNEL, msg.channel, msg.name)
        if msg.channel in self._in or msg.name in self._in_by_name:
            return self._reject(ErrorCode.PROTOCOL, msg.channel, f"{msg.name} opened twice")
        if len(self._in) >= MAX_CHANNELS:
            return self._reject(ErrorCode.REFUSED, msg.channel, "too many channels")
        self._in[msg.channel] = _InChannel(msg.name, ReceiveWindow())
        self._in_by_name[msg.name] = msg.channel
        return [ChannelOpened(msg.name)]

    def _on_data(self, msg: Data) -> list[Event]:
        chan = self._in.get(msg.channel)
        if chan is None:
            return self._reject(ErrorCode.UNKNOWN_CHANNEL, msg.channel, "DATA on unopened channel")
        if not chan.window.accept(len(msg.body)):
            return self._reject(ErrorCode.FLOW_VIOLATION, msg.channel, f"{chan.name}: no credit")
        return [DataReceived(chan.name, msg.msg_id, msg.body)]

    def _on_credit(self, msg: Credit) -> list[Event]:
        chan = self._out_by_id.get(msg.channel)
        if chan is None:
            return self._reject(ErrorCode.UNKNOWN_CHANNEL, msg.channel, "CREDIT for no channel")
        if not chan.credit.grant(msg.messages, msg.nbytes):
            return self._reject(ErrorCode.FLOW_VIOLATION, msg.channel, "credit overflow")
        granted: list[Event] = [CreditGranted(chan.name, msg.messages, msg.nbytes)]
        return granted + self._flush(chan)

    def _on_error(self, msg: Error) -> list[Event]:
        chan = self._out_by_id.get(msg.channel) if msg.channel else None
        dropped = 0
        if chan is not None and msg.code == ErrorCode.UNKNOWN_CHANNEL:
            chan.refused = True
            dropped = len(chan.queue)
            chan.queue.clear()
        name = chan.name if chan else None
        return [ChannelError(msg.code, name, msg.detail, dropped)]
