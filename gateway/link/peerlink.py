"""One open link to a contact: reading, the channel mux, the outbox pump and pings (asyncio).

Received payloads go through the mux to the channel handlers; tracked messages
are deduplicated before their handler runs and acknowledged after, so each is
handled once however often it arrives. The outbox is pumped whenever the link
opens, a message is queued, or an ack arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import GatewayError, ProtocolError, SessionStateError
from gateway.link import channels
from gateway.link.channels import ChannelRegistry, LinkMux
from gateway.link.dbstore import DbSessionStore
from gateway.link.dedupe import Dedupe, Verdict
from gateway.link.establish import READ_SIZE
from gateway.link.messages import UNTRACKED, Data, LinkMessage, encode
from gateway.link.outbox import Outbox
from gateway.link.pacer import Pacer
from gateway.link.protocol import LinkConnection, PayloadReceived, Rejected, Role
from gateway.storage.db import transaction

log = logging.getLogger("gateway.link")

PING_INTERVAL = 10.0
#: an outbox message handed to the link is not handed again for this long (unless acked)
HANDED_HOLD = 60.0
#: a link whose peer answered no ping for this long is closed
DEAD_AFTER = 45.0


@dataclass
class LinkStats:
    """What ``gateway peers`` and the metrics show of one link."""

    opened_at: float
    rtt: float | None = None
    last_seen: float | None = None


class PeerLink:
    """An OPEN link: owns the connection's reader, its pacer and the contact's outbox pump."""

    def __init__(
        self,
        conn: LinkConnection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pacer: Pacer,
        *,
        registry: ChannelRegistry,
        outbox: Outbox,
        dedupe: Dedupe,
        store: DbSessionStore,
        on_rejection: Callable[[str], None] = lambda _: None,
        on_rtt: Callable[[float], None] = lambda _: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert conn.remote_identity is not None
        self.contact = conn.remote_identity
        self.conn = conn
        self.reader = reader
        self.writer = writer
        self.pacer = pacer
        self.registry = registry
        self.outbox = outbox
        self.dedupe = dedupe
        self.store = store
        self.on_rejection = on_rejection
        #: called with each pong's round trip (the reputation's RTT samples)
        self.on_rtt = on_rtt
        self.clock = clock
        self.mux = LinkMux(registry)
        now = clock()
        self.stats = LinkStats(opened_at=now, last_seen=now)
        self._pump_wake = asyncio.Event()
        self._stop = asyncio.Event()
        #: set once the link has closed
        self.closed = asyncio.Event()
        #: outbox messages handed to the mux, and when
        self._handed: dict[bytes, float] = {}
        #: resolved by the next payload from the peer (see :meth:`answers`)
        self._listeners: list[asyncio.Future[None]] = []

    @property
    def initiated_by_us(self) -> bool:
        return self.conn.role is Role.INITIATOR

    def stop(self) -> None:
        """Close the link (another link to the contact replaces it, or the node stops).

        The connection closes at once, so it seals nothing more: a link that replaces this
        one may have resumed the same session.
        """
        self.conn.close()
        self._stop.set()

    async def answers(self, timeout: float) -> bool:
        """Whether the peer still answers on this link: a PING goes out, and anything the
        peer sends within ``timeout`` seconds (the PONG, or any other payload) counts.

        Tor may not tell us for a long while that the other end went away (its node
        crashed or restarted), so a link can look open long after it died.
        """
        if self.closed.is_set():
            return False
        heard: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._listeners.append(heard)
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            self._send(self.mux.ping(self.clock()))
            await asyncio.wait(
                (heard, closed), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            return heard.done() and not self.closed.is_set()
        finally:
            closed.cancel()
            self._listeners.remove(heard)

    def kick(self) -> None:
        """Something was queued in the outbox: pump it."""
        self._pump_wake.set()

    async def run(self, early: list[PayloadReceived]) -> None:
        """Serve the link until it closes; ``early`` are payloads read with the HELLO."""
        self.outbox.reschedule(self.contact, self.clock())
        for event in early:
            self._on_payload(event.data)
        tasks = [
            asyncio.create_task(self._read(), name="link-read"),
            asyncio.create_task(self.pacer.run(), name="link-pacer"),
            asyncio.create_task(self._pump(), name="link-pump"),
            asyncio.create_task(self._ping(), name="link-ping"),
            asyncio.create_task(self._stop.wait(), name="link-stop"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    exc = task.exception()
                    log.info("link closed: %s: %s", type(exc).__name__, exc)
                elif task.get_name() == "link-read":
                    log.info("link closed: the other end closed the connection")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.conn.close()
            self.writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self.writer.wait_closed()
            self.closed.set()

    # --- reading -------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            data = await self.reader.read(READ_SIZE)
            if not data:
                return
            # on a paced link, open (and persist) what arrived only right after a tick,
            # so that the work never delays our own next write
            await self.pacer.receive_turn()
            for event in self.conn.receive(data):
                if isinstance(event, PayloadReceived):
                    self._on_payload(event.data)
                elif isinstance(event, Rejected):
                    self._reject(event.reason)

    def _reject(self, reason: str) -> None:
        self.on_rejection(reason.split(":", 1)[0])

    def _on_payload(self, payload: bytes) -> None:
        now = self.clock()
        self.stats.last_seen = now
        for heard in self._listeners:
            if not heard.done():
                heard.set_result(None)
        self._handle(self.mux.receive_payload(payload, now))

    def _handle(self, events: list[channels.Event]) -> None:
        for event in events:
            match event:
                case channels.DataReceived():
                    self._on_data(event)
                case channels.AckReceived():
                    self.outbox.ack(self.contact, event.msg_ids)
                    for msg_id in event.msg_ids:
                        self._handed.pop(msg_id, None)
                case channels.Outgoing():
                    self._send(event.message)
                case channels.PongReceived():
                    self.stats.rtt = event.rtt
                    self.on_rtt(event.rtt)
                case channels.MessageRejected():
                    self._reject(f"{event.code.name.lower()}: {event.detail}")
                case channels.ChannelError():
                    log.info("channel error from peer: %s %s", event.code, event.detail)
                case channels.LinkClosed():
                    raise ProtocolError(f"peer closed the link: {event.reason}")
                case _:
                    pass

    def _on_data(self, event: channels.DataReceived) -> None:
        tracked = event.msg_id != UNTRACKED
        if tracked and self.dedupe.check(self.contact, event.msg_id) is not Verdict.NEW:
            self._handle([channels.Outgoing(m) for m in self.mux.consumed(event.channel, 0)])
            for ack in self.mux.ack([event.msg_id]):
                self._send(ack)
            return
        # the handler's writes and the dedupe record commit together: a crash between
        # them would otherwise handle the message again when the sender retries it
        with transaction(self.dedupe.conn):
            out = self.mux.handle(event, self.registry, self.contact)
            if tracked:
                self.dedupe.record(self.contact, event.msg_id, self.clock())
        if tracked:
            out += [channels.Outgoing(m) for m in self.mux.ack([event.msg_id])]
        self._handle(out)

    # --- sending -------------------------------------------------------------------

    def send_untracked(self, channel: str, body: bytes) -> None:
        """Send ``body`` on ``channel`` without the outbox (no ack, no retry)."""
        for message in self.mux.send(channel, body):
            self._send(message)

    def _send(self, message: LinkMessage) -> None:
        tracked = isinstance(message, Data) and message.msg_id != UNTRACKED
        msg_ids = (message.msg_id,) if isinstance(message, Data) and tracked else ()
        try:
            self.pacer.submit(encode(message), msg_ids)
        except GatewayError as exc:
            if isinstance(message, Data):
                self._handed.pop(message.msg_id, None)
            log.warning("could not queue a link message: %s", exc)
            if isinstance(exc, SessionStateError):
                self.stop()  # this link's session is closed or stale: it can send nothing

    async def _pump(self) -> None:
        while True:
            self._pump_wake.clear()
            now = self.clock()
            for msg in self.outbox.due(self.contact, now):
                if now - self._handed.get(msg.msg_id, -HANDED_HOLD) < HANDED_HOLD:
                    continue
                self._handed[msg.msg_id] = now
                for out in self.mux.send(msg.channel, msg.body, msg.msg_id):
                    self._send(out)
            next_at = self.outbox.next_due(self.contact)
            timeout = None if next_at is None else max(1.0, next_at - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pump_wake.wait(), timeout)

    async def _ping(self) -> None:
        while True:
            self._send(self.mux.ping(self.clock()))
            await asyncio.sleep(PING_INTERVAL)
            last = self.stats.last_seen or self.stats.opened_at
            if self.clock() - last > DEAD_AFTER:
                raise ProtocolError(f"no answer from the peer for {DEAD_AFTER:.0f} s")
