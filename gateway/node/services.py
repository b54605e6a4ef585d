"""The node's services besides tor: database, contacts, links, front door, inbox, local API.

:class:`NodeServices` is built before tor starts (the onion points at its front
door), is told when tor is ready (the SOCKS port links dial through, the
control connection for descriptor refetches) and is closed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stem.control import EventType

from gateway.api.circle_mount import LazyCircleRoutes
from gateway.api.config_routes import ConfigRoutes
from gateway.api.contacts_routes import ContactsRoutes
from gateway.api.dashboard import DashboardRoutes
from gateway.api.events import EventBus, EventFeed, EventRoutes, FeedSources
from gateway.api.graphql_mount import LazyGraphQLRoutes
from gateway.api.memory_routes import MemoryRoutes
from gateway.api.openai_mount import LazyOpenAIRoutes
from gateway.api.ratelimit import RateLimit
from gateway.api.rounds_routes import RoundsRoutes
from gateway.api.server import ApiServer, LocalApi, RouteSet
from gateway.api.status import NodeStatus
from gateway.config.schema import GatewayConfig, OnionProvisioning
from gateway.contacts.book import Contact, ContactBook
from gateway.contacts.client_auth import onion_client_auth_add_args, parse_auth_private_file
from gateway.contacts.local import client_auth_dir, install_contact_keys
from gateway.converge.adapters.base import Adapter
from gateway.converge.adapters.factory import build_adapter
from gateway.errors import AdapterError, ContactError, EmbeddingError, GatewayError
from gateway.link.channels import ChannelRegistry
from gateway.link.front import FrontDoor
from gateway.link.local import LocalNode
from gateway.link.manager import LinkManager
from gateway.memory.embed import Embedder, lazy_default
from gateway.memory.hub import SyncHub
from gateway.memory.store import MemoryStore
from gateway.metrics import MetricsRoutes, NodeMetrics
from gateway.node import authwatch, memtrim
from gateway.node.circlestore import FILE_NAME as CIRCLES_DB
from gateway.node.inbox import CHANNEL as INBOX_CHANNEL
from gateway.node.inbox import Inbox
from gateway.node.indexer import Indexer
from gateway.node.lazycircles import CHANNEL as CIRCLE_CHANNEL
from gateway.node.lazycircles import LazyCircles
from gateway.node.memops import MemoryService
from gateway.node.memsync import CHANNEL as MEMORY_CHANNEL
from gateway.node.memsync import MemorySync
from gateway.node.reputation import ReputationService
from gateway.node.rounds import CHANNEL as CONVERGE_CHANNEL
from gateway.node.rounds import RoundsService
from gateway.node.roundstore import RoundStore
from gateway.session.options import SessionOptions
from gateway.state.keys import IdentityKeys, load_api_token
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths
from gateway.storage.db import apply_migrations, open_db
from gateway.tor import hsclient
from gateway.tor.controller import TorControl

if TYPE_CHECKING:
    from gateway.node.circles import CircleService

log = logging.getLogger("gateway.node")

API_SOCKET = "api.sock"


class TorHandle:
    """The tor the services use once it is up (None while it is down)."""

    def __init__(self) -> None:
        self.control: TorControl | None = None

    async def load_client_auth(self, folder: Path) -> int:
        """Give tor every key in ``folder`` (ours, to reach contacts' onions) over the
        control port (``ONION_CLIENT_AUTH_ADD``), and refetch those onions' descriptors;
        how many. Works at every level, attached tors and ``Sandbox 1`` included."""
        control = self.control
        if control is None or not folder.is_dir():
            return 0
        loaded = 0
        for path in sorted(folder.glob("*.auth_private")):
            try:
                onion, private = parse_auth_private_file(path.read_text())
            except (OSError, ContactError) as exc:
                log.warning("client-auth file %s skipped: %s", path.name, exc)
                continue
            args = onion_client_auth_add_args(onion, private)
            reply = await control.call(control.stem.msg, f"ONION_CLIENT_AUTH_ADD {args}")
            status = reply.content()[0][0] if reply.content() else ""
            if status not in ("250", "251", "252"):  # OK, replaced, registered
                log.warning("tor refused a client-auth key (%s): %s", status, reply)
                continue
            loaded += 1
            with contextlib.suppress(GatewayError):
                await self.refetch(onion)
        return loaded

    async def refetch(self, onion: str) -> None:
        """Make tor reach ``onion`` afresh after a failed dial: close its circuits that wait
        on a rendezvous that never came, and fetch its descriptor again."""
        control = self.control
        if control is not None:
            await hsclient.refresh(control, onion)


@dataclass
class NodeServices:
    db: sqlite3.Connection
    book: ContactBook
    links: LinkManager
    inbox: Inbox
    front: FrontDoor
    api: ApiServer
    tor: TorHandle
    memory: MemoryService
    rounds: RoundsService
    cfg: GatewayConfig
    metrics: NodeMetrics
    status: NodeStatus
    feed: EventFeed
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: the circle service, made when first needed (:mod:`gateway.node.lazycircles`)
    circles: LazyCircles | None = None
    #: every contact's measured reputation (docs/REPUTATION.md)
    reputation: ReputationService | None = None

    @classmethod
    def open(
        cls, cfg: GatewayConfig, paths: StatePaths, key: OnionKey, http_port: int
    ) -> NodeServices:
        """Open the database and build every service (nothing listens yet)."""
        keys = IdentityKeys.load(paths)
        db = open_db(paths.db)
        store: MemoryStore | None = None
        circles: LazyCircles | None = None
        try:
            embedder = _embedder(cfg)
            store = MemoryStore(paths.memory_db, embedder=embedder)
            apply_migrations(db)
            policy = cfg.security.policy
            book = ContactBook(db, keys.signing_public)
            inbox = Inbox(db)
            registry = ChannelRegistry()
            metrics = NodeMetrics(  # read at scrape time, so later names are fine
                links=lambda: links,
                front=lambda: front,
                sync=lambda: sync,
                store=lambda: store,
                rounds=lambda: rounds,
            )
            registry.register(INBOX_CHANNEL, metrics.meter_handler(INBOX_CHANNEL, inbox.handler))
            local = LocalNode(
                keys.signing,
                keys.static,
                key.address,
                SessionOptions.from_policy(policy),
                policy.post_quantum,
            )
            tor = TorHandle()

            async def on_paired(contact: Contact) -> None:
                # at every level: the key to a paranoid contact's onion comes with pairing
                install_contact_keys(paths, contact)

            links = LinkManager(
                local=local,
                policy=policy,
                db=db,
                book=book,
                registry=registry,
                virtual_port=cfg.onion.virtual_port,
                refetch=tor.refetch,
                on_contact=on_paired,
            )
            hub = SyncHub(store, keys.signing, lambda: int(time.time() * 1000))
            sync = MemorySync(hub, links, book, cfg.memory, restored_marker=paths.restored_marker)
            registry.register(MEMORY_CHANNEL, sync.handler)
            links.link_hooks.append(sync.on_link)
            memory = MemoryService(
                store, keys.signing, sync,
                indexer=Indexer(store, embedder) if embedder is not None else None,
            )  # fmt: skip
            rounds = RoundsService(
                keys.signing,
                links,
                RoundStore(db),
                memory,
                cfg.ai,
                answering_adapter(cfg, None),
                names=lambda peer: c.nickname if (c := book.get(peer)) else None,
                context=cfg.memory.council_context,
                context_entries=cfg.memory.context_entries,
            )
            registry.register(
                CONVERGE_CHANNEL, metrics.meter_handler(CONVERGE_CHANNEL, rounds.handler)
            )
            reputation = ReputationService(
                db, book, links, me=keys.signing_public, ready=lambda: links.socks_port is not None
            )
            links.link_hooks.append(reputation.on_link)
            links.link_hooks.append(memtrim.QuietTrim().on_link)
            links.rtt_hooks.append(reputation.on_rtt)
            links.reputation = reputation.as_json
            sync.on_session.append(reputation.sync_finished)
            sync.on_split_view.append(reputation.split_view)
            rounds.pick = reputation.best
            spaces = store

            def make_circles() -> CircleService:
                from gateway.node.circles import CircleService

                return CircleService(  # PBFT faults (equivocation, silent primary) -> reputation
                    keys.signing, paths.root / CIRCLES_DB, links, book, spaces,
                    on_fault=reputation.record_pbft_fault,
                    rank=reputation.rank,  # reputation -> rank reports -> the primary order
                )  # fmt: skip

            circles = LazyCircles(make_circles, paths.root / CIRCLES_DB)
            registry.register(
                CIRCLE_CHANNEL, metrics.meter_handler(CIRCLE_CHANNEL, circles.handler)
            )
            sync.governed_spaces = circles.governed_spaces
            expect_proxy = policy.onion_provisioning is OnionProvisioning.TORRC
            front = FrontDoor(links.accept, http_port, expect_proxy_line=expect_proxy)
            links.record_tap = metrics.on_record

            def round_finished(view: dict[str, Any]) -> None:
                metrics.round_finished(view)
                reputation.round_finished(view)

            rounds.on_finished = round_finished
            status = NodeStatus(cfg.security.level)
            routes: list[RouteSet] = [
                MemoryRoutes(memory),
                RoundsRoutes(rounds, book),
                LazyOpenAIRoutes(rounds, book),
                LazyGraphQLRoutes(book, memory, rounds),
                ContactsRoutes(book, paths, keys, key, policy, cfg.node.name),
                LazyCircleRoutes(circles, lambda text: book.find(text).identity, memory.resolve),
                ConfigRoutes(cfg),
                MetricsRoutes(metrics),
                DashboardRoutes(),
            ]
            api = LocalApi(
                links,
                inbox,
                lambda: {"front": dict(front.counters)},
                routes,
                node=status,
                limit=RateLimit(float(cfg.api.rate_limit), cfg.api.burst),
            )
            bus = EventBus()
            sources = FeedSources(
                status=api.status_json, peers=api.peers_json, memory=memory.stats, rounds=rounds
            )
            feed = EventFeed(bus, sources)
            routes.append(EventRoutes(bus, feed))  # read when the app is made, just below
            server = ApiServer(
                api.app(load_api_token(paths)),
                policy.api_transport,
                paths.root / API_SOCKET,
                host=cfg.http.host,
            )
            return cls(
                db, book, links, inbox, front, server, tor, memory, rounds, cfg, metrics, status,
                feed, reputation=reputation, circles=circles,
            )  # fmt: skip
        except BaseException:
            db.close()
            if circles is not None:
                circles.close_now()
            if store is not None:
                store.close()
            raise

    async def start(self) -> int:
        """Start listening (front door and API); the front door's port, for the onion."""
        port = await self.front.start()
        await self.api.start()
        await self.links.start()
        self.tasks.append(asyncio.create_task(self.memory.sync.run(), name="memory-sync"))
        if self.memory.indexer is not None:
            self.tasks.append(asyncio.create_task(self.memory.indexer.run(), name="embedding"))
        self.tasks.append(asyncio.create_task(self.rounds.run(), name="rounds"))
        self.tasks.append(asyncio.create_task(self.feed.run(), name="event-feed"))
        if self.reputation is not None:
            self.tasks.append(asyncio.create_task(self.reputation.run(), name="reputation"))
        if self.circles is not None:
            self.tasks.append(asyncio.create_task(self.circles.run(), name="circles"))
        return port

    def watch_client_auth(
        self, folders: tuple[Path, ...], on_change: Callable[[], None], what: str
    ) -> None:
        """Call ``on_change`` when client-authorization files in ``folders`` change."""
        self.tasks.append(asyncio.create_task(authwatch.watch(folders, on_change, what)))

    def load_keys(self) -> None:
        """Hand tor the keys in ``client_auth/`` now (without waiting for the call)."""
        folder = client_auth_dir(StatePaths(self.cfg.node.state_dir))
        self.tasks.append(asyncio.create_task(self._load_keys(folder)))

    async def _load_keys(self, folder: Path) -> None:
        try:
            count = await self.tor.load_client_auth(folder)
        except GatewayError as exc:
            log.warning("could not give tor the client-auth keys: %s", exc)
            return
        if count:
            log.info("tor holds %d client-auth key(s) for contacts' onions", count)

    def tor_ready(self, control: TorControl, socks_port: int | None) -> None:
        self.tor.control = control
        self.load_keys()  # an attached tor has not read our ClientOnionAuthDir
        self.links.set_socks_port(socks_port)
        self.metrics.set_bootstrap_percent(100)
        self.tasks.append(asyncio.create_task(self._watch_circuits(control)))
        self.rounds.adapter = answering_adapter(self.cfg, socks_port)

    async def _watch_circuits(self, control: TorControl) -> None:
        """Count tor's circuit events (CIRC) for the metrics."""
        try:
            await control.call(
                control.stem.add_event_listener, self.metrics.circuit_listener, EventType.CIRC
            )
        except GatewayError as exc:
            log.info("no circuit events for the metrics: %s", exc)

    def tor_gone(self) -> None:
        self.metrics.set_bootstrap_percent(0)
        self.tor.control = None
        self.links.set_socks_port(None)

    async def close_links(self) -> None:
        """Close every link (the node stops): done while tor runs, so contacts hear it."""
        try:
            await self.links.stop()
        except GatewayError as exc:
            log.warning("while closing links: %s", exc)

    async def close(self) -> None:
        await self.rounds.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.circles is not None:
            with contextlib.suppress(GatewayError):
                await self.circles.close()
        for step in (self.links.stop, self.front.stop, self.api.stop):
            try:
                await step()
            except GatewayError as exc:
                log.warning("while stopping: %s", exc)
        if self.reputation is not None:
            self.reputation.close()
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        with contextlib.suppress(sqlite3.Error, GatewayError):
            self.memory.store.close()


def answering_adapter(cfg: GatewayConfig, socks_port: int | None) -> Adapter | None:
    """The adapter this node answers with (``ai.answerer.adapter``, else ``ai.default``).

    Requests to a non-loopback endpoint go through tor's SOCKS port.
    """
    name = cfg.ai.answerer.adapter or cfg.ai.default
    if name is None:
        return None
    proxy = f"socks5://127.0.0.1:{socks_port}" if socks_port else None
    try:
        return build_adapter(cfg.ai.adapter(name), socks_proxy=proxy)
    except AdapterError:
        if proxy is None:
            return None  # a hosted endpoint: usable once tor's SOCKS port is known
        raise


def _embedder(cfg: GatewayConfig) -> Embedder | None:
    """The bundled embedding model (loaded on first use), unless ``memory.semantic`` is off."""
    if not cfg.memory.semantic:
        return None
    try:
        return lazy_default()
    except EmbeddingError as exc:
        log.warning("memory: search by meaning is off: %s", exc)
        return None
