"""Links to every contact: accepting, dialing through tor, one link per contact (asyncio).

Each contact has a dial loop that keeps a link up, reconnecting with backoff
(and asking tor to refetch the contact's descriptor after repeated failures).
Both sides dial, so two links to one contact can open at once: both sides then
keep the link whose initiator has the smaller identity key, and a newer link
from the same initiator replaces an older one (the peer reconnected). Before a
new link is dropped for an old one, the old one must answer a ping: a peer that
crashed or restarted leaves a link that tor may report closed only much later,
and the peer's new link must not be refused for it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.config.schema import SecurityPolicy
from gateway.contacts.book import Contact, ContactBook, ContactState
from gateway.errors import GatewayError, LinkError, SocksError
from gateway.link.backoff import Backoff
from gateway.link.channels import ChannelRegistry
from gateway.link.dbstore import DbSessionStore
from gateway.link.dedupe import Dedupe
from gateway.link.gate import BookGatekeeper
from gateway.link.local import LocalNode
from gateway.link.outbox import Outbox
from gateway.link.ratelimit import HandshakeLimiter
from gateway.logs import redact
from gateway.tor.socksreply import CLIENT_AUTH_REPLIES, explain, reply_code

if TYPE_CHECKING:
    from gateway.link.pacer import Tap
    from gateway.link.peerlink import PeerLink
    from gateway.link.protocol import LinkConnection, Opened, Role

log = logging.getLogger("gateway.link")

HANDSHAKE_TIMEOUT = 60.0
CONNECT_TIMEOUT = 90.0
#: how often the contact book is re-read for new or removed contacts
RESCAN_INTERVAL = 2.0
#: wait after a link closed normally before dialing again
RECONNECT_DELAY = 1.0
#: an existing link that the tie-break would keep over a new one must answer within this
LIVENESS_TIMEOUT = 10.0

#: asks tor to fetch an onion's descriptor again
Refetch = Callable[[str], Awaitable[None]]
ContactHook = Callable[[Contact], Awaitable[None]]
#: (contact, up, we dialed it): a link opened or closed
LinkHook = Callable[[bytes, bool, bool], None]
#: (contact, seconds): a pong came back on the contact's link
RttHook = Callable[[bytes, float], None]


@dataclass(frozen=True)
class PeerStatus:
    """One contact as ``gateway peers`` shows it."""

    identity: str
    nickname: str | None
    onion: str
    state: str
    online: bool
    last_seen: float | None
    rtt_ms: float | None
    padding: str
    cover: str
    direction: str | None
    queued: int
    #: this link's traffic so far: payload bytes, bytes on the wire, dummy records
    payload_bytes: int = 0
    wire_bytes: int = 0
    dummies: int = 0
    #: the contact's measured reputation (docs/REPUTATION.md), when the node keeps one
    reputation: dict[str, Any] | None = None


class LinkManager:
    """Every link of this node."""

    def __init__(
        self,
        *,
        local: LocalNode,
        policy: SecurityPolicy,
        db: sqlite3.Connection,
        book: ContactBook,
        registry: ChannelRegistry,
        virtual_port: int,
        refetch: Refetch | None = None,
        on_contact: ContactHook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.local = local
        self.policy = policy
        self.book = book
        self.registry = registry
        self.virtual_port = virtual_port
        self.refetch = refetch
        #: contacts whose onion refused us for client authorization (warned about once)
        self._auth_warned: set[bytes] = set()
        self.on_contact = on_contact
        self.link_hooks: list[LinkHook] = []
        self.rtt_hooks: list[RttHook] = []
        #: a contact's reputation as ``peers()`` shows it (set by the node's services)
        self.reputation: Callable[[bytes], dict[str, Any]] | None = None
        #: sees every record a link writes (bytes, whether it is cover): for the metrics
        self.record_tap: Tap | None = None
        self.clock = clock
        self.outbox = Outbox(db)
        self.dedupe = Dedupe(db)
        self.store = DbSessionStore(db, self.outbox)
        self.gate = BookGatekeeper(book, clock=clock, on_paired=self._paired)
        self.limiter = HandshakeLimiter()
        self.links: dict[bytes, PeerLink] = {}
        self.counters: Counter[str] = Counter()
        #: the latest link openings, oldest first: when, and whether the session resumed
        self.opens: collections.deque[dict[str, float | bool]] = collections.deque(maxlen=64)
        self.socks_port: int | None = None
        self._dialers: dict[bytes, asyncio.Task[None]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._isolation = secrets.token_hex(8)
        self._rescan: asyncio.Task[None] | None = None
        self._newly_paired: list[bytes] = []
        self._own_identity = local.identity.public_key().public_bytes_raw()

    # --- life ------------------------------------------------------------------

    async def start(self) -> None:
        self._rescan = asyncio.create_task(self._rescan_loop(), name="link-rescan")

    async def stop(self) -> None:
        tasks = [t for t in (self._rescan, *self._dialers.values(), *self._serving) if t]
        for link in list(self.links.values()):
            link.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._dialers.clear()

    def set_socks_port(self, port: int | None) -> None:
        self.socks_port = port

    async def _rescan_loop(self) -> None:
        while True:
            self._sync_dialers()
            self.limiter.prune(time.monotonic())
            for identity in self._newly_paired:
                contact = self.book.get(identity)
                if contact is not None and self.on_contact is not None:
                    await self.on_contact(contact)
            self._newly_paired.clear()
            await asyncio.sleep(RESCAN_INTERVAL)

    def _sync_dialers(self) -> None:
        wanted = {c.identity for c in self.book.list()}
        for identity in list(self._dialers):
            if identity not in wanted:
                self._dialers.pop(identity).cancel()
                link = self.links.get(identity)
                if link is not None:
                    link.stop()
        for identity in wanted - self._dialers.keys():
            self._dialers[identity] = asyncio.create_task(
                self._dial_loop(identity), name=f"link-dial-{identity[:4].hex()}"
            )

    def _paired(self, identity: bytes) -> None:
        self._newly_paired.append(identity)

    # --- sending ---------------------------------------------------------------

    def send(self, contact: bytes, channel: str, body: bytes) -> bytes:
        """Queue ``body`` for ``contact`` on ``channel`` (durable at once); the message id."""
        if not self.book.is_contact(contact):
            raise LinkError("not a contact")
        msg_id = self.outbox.enqueue(contact, channel, body, self.clock())
        link = self.links.get(contact)
        if link is not None:
            link.kick()
        return msg_id

    def send_now(self, contact: bytes, channel: str, body: bytes) -> bool:
        """Send ``body`` untracked on the open link to ``contact``; False if there is none.

        Nothing is stored: what the link loses is lost (for protocols that resume by
        themselves, like memory sync).
        """
        link = self.links.get(contact)
        if link is None:
            return False
        try:
            link.send_untracked(channel, body)
        except GatewayError as exc:
            log.info("could not send on channel %s: %s", channel, exc)
            return False
        return True

    def online(self) -> list[bytes]:
        """The contacts with an open link."""
        return list(self.links)

    def _link_changed(self, contact: bytes, up: bool, dialed: bool) -> None:
        for hook in self.link_hooks:
            try:
                hook(contact, up, dialed)
            except GatewayError as exc:
                log.warning("link hook failed: %s", exc)

    def _rtt(self, contact: bytes, rtt: float) -> None:
        for hook in self.rtt_hooks:
            try:
                hook(contact, rtt)
            except GatewayError as exc:
                log.warning("rtt hook failed: %s", exc)

    # --- accepting -------------------------------------------------------------

    async def accept(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        circuit: int | None,
        prefix: bytes,
    ) -> None:
        """Serve an inbound connection from the onion service (``prefix``: bytes already read)."""
        key = f"circuit:{circuit}" if circuit is not None else None
        if not self.limiter.allow(key, time.monotonic()):
            self.counters["rate_limited"] += 1
            writer.close()
            return
        from gateway.link.protocol import LinkConnection, Role  # with the first link

        conn = LinkConnection(self.local, Role.RESPONDER, self.store, gatekeeper=self.gate)
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
        try:
            await self._serve(conn, reader, writer, prefix)
        finally:
            if task is not None:
                self._serving.discard(task)

    # --- dialing ---------------------------------------------------------------

    async def _dial_loop(self, identity: bytes) -> None:
        backoff = Backoff(base=2.0, cap=120.0, rng=random.Random())
        failures = 0
        if identity > self._own_identity:
            await asyncio.sleep(random.uniform(1.0, 3.0))  # the smaller key usually dials first
        while True:
            existing = self.links.get(identity)
            if existing is not None:
                await existing.closed.wait()
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            contact = self.book.get(identity)
            if contact is None:
                return
            if self.socks_port is None:
                await asyncio.sleep(1.0)
                continue
            if await self._dial_once(contact):
                failures = 0
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            failures += 1
            if self.refetch is not None:  # reach it afresh: see gateway.tor.hsclient
                with contextlib.suppress(GatewayError):
                    await self.refetch(contact.onion_address)
            await asyncio.sleep(backoff.delay(failures))

    async def _dial_once(self, contact: Contact) -> bool:
        try:
            reader, writer = await self._open(contact)
        except (OSError, TimeoutError, SocksError) as exc:
            self.counters["dial_failed"] += 1
            if reply_code(exc) in CLIENT_AUTH_REPLIES:
                self.counters["dial_client_auth"] += 1
                warn = contact.identity not in self._auth_warned  # once per contact and run
                self._auth_warned.add(contact.identity)
                log.log(
                    logging.WARNING if warn else logging.DEBUG,
                    "cannot reach contact %s: %s", redact(contact.id), explain(exc),
                )  # fmt: skip
            else:
                log.debug("dial failed: %s", explain(exc))
            return False
        from gateway.link.protocol import LinkConnection, Peer, Role

        pending = contact.state is ContactState.PENDING
        known = self.book.peer_offer(contact.identity)
        peer = Peer(
            contact.identity,
            contact.static_key,
            contact.onion_address,
            (contact.invite_secret or b"") if pending else b"",
            (contact.offer_auth_private or b"") if pending else b"",
            post_quantum=known is not None and known.post_quantum,
        )
        conn = LinkConnection(self.local, Role.INITIATOR, self.store, peer=peer)
        return await self._serve(conn, reader, writer, b"")

    async def _open(self, contact: Contact) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self.socks_port is not None
        from gateway.link.establish import READ_SIZE
        from gateway.tor import socks5

        auth = None
        if self.policy.stream_isolation:
            auth = f"gw-{contact.identity[:8].hex()}", self._isolation
        return await socks5.open_connection(
            self.socks_port, f"{contact.onion_address}.onion", self.virtual_port,
            auth=auth, timeout=CONNECT_TIMEOUT, limit=READ_SIZE * 4,
        )  # fmt: skip

    # --- one connection --------------------------------------------------------

    async def _serve(
        self,
        conn: LinkConnection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        prefix: bytes,
    ) -> bool:
        """Establish and run one link; False if it never opened."""
        from gateway.link.establish import establish
        from gateway.link.pacer import Pacer
        from gateway.link.peerlink import PeerLink
        from gateway.link.protocol import Role

        try:
            opened, early = await asyncio.wait_for(
                establish(conn, reader, writer, prefix), HANDSHAKE_TIMEOUT
            )
        except (GatewayError, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            self.counters[f"handshake_{type(exc).__name__}"] += 1
            log.info("link not established: %s: %s", type(exc).__name__, exc)
            writer.close()
            return False
        self.counters["link_resumed" if opened.resumed else "link_new_session"] += 1
        if conn.remote_offer is not None:
            self.book.note_offer(opened.identity, conn.remote_offer)
        self.opens.append({"at": self.clock(), "resumed": opened.resumed})
        try:
            adopted = await self._adopt(opened, conn)  # may wait for the old link's answer
        except BaseException:  # cancelled meanwhile (the node stops)
            writer.close()
            raise
        if not adopted:
            writer.close()
            return True
        pacer = Pacer(
            conn,
            writer,
            self.policy,
            padding_mode=conn.padding_mode,
            on_written=lambda: self.store.wrote_all(opened.identity),
            tap=self.record_tap,
        )
        link = PeerLink(
            conn,
            reader,
            writer,
            pacer,
            registry=self.registry,
            outbox=self.outbox,
            dedupe=self.dedupe,
            store=self.store,
            on_rejection=lambda reason: self.counters.update([f"link_{reason}"]),
            on_rtt=lambda rtt: self._rtt(opened.identity, rtt),
            clock=self.clock,
        )
        self.links[opened.identity] = link
        self.book.touch(opened.identity, int(self.clock()))
        dialed = conn.role is Role.INITIATOR
        asyncio.get_running_loop().call_soon(self._link_changed, opened.identity, True, dialed)
        try:
            await link.run(early)
        finally:
            if self.links.get(opened.identity) is link:
                del self.links[opened.identity]
                self._link_changed(opened.identity, False, dialed)
            with contextlib.suppress(GatewayError):
                self.book.touch(opened.identity, int(self.clock()))
        return True

    async def _adopt(self, opened: Opened, conn: LinkConnection) -> bool:
        """Whether a newly opened link takes the contact's place: unless the tie-break
        keeps an existing link, and that link still answers."""
        contact = self.book.get(opened.identity)
        if contact is not None and contact.state is ContactState.PENDING:
            self.book.mark_paired(opened.identity, int(self.clock()))
        while True:
            existing = self.links.get(opened.identity)
            if existing is None:
                return True
            mine = self._initiator_of(conn.role, opened.identity)
            theirs = self._initiator_of(existing.conn.role, opened.identity)
            if theirs >= mine:
                break
            # the peer dialed while we hold the link it too would keep: both dialed at
            # once, or that link died at its end (its node crashed or restarted)
            alive = await existing.answers(LIVENESS_TIMEOUT)
            if self.links.get(opened.identity) is not existing:
                continue  # it closed, or another link replaced it, meanwhile: decide again
            if alive:
                self.counters["duplicate_link_dropped"] += 1
                return False
            self.counters["dead_link_replaced"] += 1
            log.info(
                "link to %s: the contact dialed again and the old link did not answer: "
                "replaced", redact(existing.contact.hex()),
            )  # fmt: skip
            break
        existing.stop()
        # the old link leaves the table without its own "closed" report (the new one takes
        # its place): report it here, so what ran over it (memory sync) starts again
        self._link_changed(opened.identity, False, existing.initiated_by_us)
        return True

    def _initiator_of(self, role: Role, remote: bytes) -> bytes:
        from gateway.link.protocol import Role

        return self._own_identity if role is Role.INITIATOR else remote

    # --- status ----------------------------------------------------------------

    def peers(self) -> list[PeerStatus]:
        out = []
        for contact in self.book.list():
            link = self.links.get(contact.identity)
            rtt = link.stats.rtt if link else None
            out.append(
                PeerStatus(
                    identity=contact.identity.hex(),
                    nickname=contact.nickname,
                    onion=contact.onion_address,
                    state=contact.state.value,
                    online=link is not None,
                    last_seen=float(contact.last_seen) if contact.last_seen else None,
                    rtt_ms=None if rtt is None else round(rtt * 1000, 1),
                    padding=(link.pacer.padding_mode if link else self.policy.padding_mode).value,
                    cover=self.policy.cover_traffic.value,
                    direction=None if link is None else ("out" if link.initiated_by_us else "in"),
                    queued=self.outbox.pending(contact.identity),
                    payload_bytes=link.pacer.payload_bytes if link else 0,
                    wire_bytes=link.pacer.wire_bytes if link else 0,
                    dummies=link.pacer.dummies if link else 0,
                    reputation=self.reputation(contact.identity) if self.reputation else None,
                )
            )
        return out
