"""Memory sync on the links (asyncio): when it runs, with whom, and who waits for it.

A sync toward a contact starts when a link we dialed opens, when an entry is
written to a space the contact shares, when entries arrive from another contact,
every ``memory.sync_interval`` seconds, and on request (``gateway memory sync``).
Each runs as a :class:`~gateway.memory.hub.SyncHub` session over the ``memory``
channel, sent untracked: a session lost with its link is simply run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from gateway.config.schema import MemoryConfig
from gateway.contacts.book import ContactBook
from gateway.errors import GatewayError
from gateway.memory.events import EntriesStored, SplitViewDetected
from gateway.memory.hub import LINK_CLOSED, SyncFinished, SyncHub
from gateway.memory.spaces import Space
from gateway.node.memspaces import apply_spaces

log = logging.getLogger("gateway.memory")

CHANNEL = "memory"
#: how often pending syncs are started and idle sessions expired
TICK = 0.5
#: most split-view reports kept for the status
MAX_SPLIT_VIEWS = 32


class Links(Protocol):
    """What memory sync needs of the link manager."""

    def online(self) -> list[bytes]: ...

    def send_now(self, contact: bytes, channel: str, body: bytes) -> bool: ...


class MemorySync:
    """Runs memory sync sessions with every online contact."""

    def __init__(
        self,
        hub: SyncHub,
        links: Links,
        book: ContactBook,
        cfg: MemoryConfig,
        clock: Callable[[], float] = time.monotonic,
        restored_marker: Path | None = None,
    ) -> None:
        self.hub = hub
        #: a file that says the node was restored from a backup and has not synced since
        self.restored_marker = restored_marker
        self.links = links
        self.book = book
        self.cfg = cfg
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self.split_views: list[dict[str, object]] = []
        #: told of every finished session and split view (the peers' reputation)
        self.on_session: list[Callable[[SyncFinished], None]] = []
        self.on_split_view: list[Callable[[bytes, str], None]] = []
        self.last_sync: dict[bytes, float] = {}
        self._pending: set[bytes] = set()
        self._again: set[bytes] = set()
        #: peers whose session lost its link: the next session is their one retry
        self._retrying: set[bytes] = set()
        #: sessions whose "link closed" is final (a retry, or the link failed at the start)
        self._last_tries: set[tuple[bytes, int]] = set()
        self._waiting: dict[bytes, list[asyncio.Future[SyncFinished]]] = {}
        self._by_sid: dict[tuple[bytes, int], list[asyncio.Future[SyncFinished]]] = {}
        self._next_round = 0.0
        #: spaces governed by circles (their decisions win over the config), if wired
        self.governed_spaces: Callable[[], Mapping[str, Space]] | None = None

    # --- inputs -----------------------------------------------------------------------

    def handler(self, contact: bytes, body: bytes) -> list[bytes]:
        """The ``memory`` channel's handler: one envelope in, envelopes back."""
        replies = self.hub.receive(contact, body)
        self._after_sessions()
        return replies

    def on_link(self, contact: bytes, up: bool, dialed: bool) -> None:
        """A link opened (sync if we dialed it) or closed (its sessions end).

        A contact coming online may be one the config names in a space's members that
        was not a contact when the spaces were last applied, so they are applied again.
        """
        if up:
            try:
                self._apply_spaces()
            except GatewayError as exc:
                log.warning("memory: could not apply the spaces: %s", exc)
        if up and dialed:
            self._pending.add(contact)
        elif not up:
            self.hub.drop_peer(contact)
            self._after_sessions()

    def wrote(self, space: str) -> None:
        """We wrote an entry in ``space``: sync with every online contact sharing it."""
        self._pending.update(self._sharing(space, self.links.online()))

    async def sync_all(self, timeout: float) -> list[SyncFinished]:
        """Sync with every online contact now; each result (timed out ones say so)."""
        self._apply_spaces()
        loop = asyncio.get_running_loop()
        futures: dict[bytes, asyncio.Future[SyncFinished]] = {}
        for peer in self.links.online():
            future: asyncio.Future[SyncFinished] = loop.create_future()
            self._waiting.setdefault(peer, []).append(future)
            futures[peer] = future
            self._pending.add(peer)
        self._start_pending()
        if futures:
            await asyncio.wait(futures.values(), timeout=timeout)
        out = []
        for peer, future in futures.items():
            if future.done():
                out.append(future.result())
            else:
                future.cancel()
                out.append(SyncFinished(peer, 0, True, 0, {}, "timed out"))
        return out

    # --- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Start pending syncs, run periodic ones, expire idle sessions; until cancelled."""
        self._apply_spaces()
        self._next_round = self.clock() + self.cfg.sync_interval
        while True:
            await asyncio.sleep(TICK)
            try:
                self._tick()
            except GatewayError as exc:  # the store failed: try again next tick
                log.warning("memory sync: %s", exc)

    def _tick(self) -> None:
        now = self.clock()
        if now >= self._next_round:
            self._next_round = now + self.cfg.sync_interval
            if self._apply_spaces():
                self.counters["spaces_changed"] += 1
            self._pending.update(self.links.online())
        self.hub.expire()
        self._after_sessions()
        self._start_pending()

    def _apply_spaces(self) -> bool:
        governed = self.governed_spaces() if self.governed_spaces is not None else None
        return apply_spaces(self.cfg, self.book, self.hub.store, governed)

    def _start_pending(self) -> None:
        online = set(self.links.online())
        for peer in list(self._pending):
            self._pending.discard(peer)
            if peer not in online:
                self._fail_waiters(peer, "offline")
            elif self.hub.initiating(peer):
                self._again.add(peer)
            else:
                self._start(peer)

    def _start(self, peer: bytes) -> None:
        started = self.hub.start(peer)
        waiters = self._waiting.pop(peer, [])
        if started is None:
            self._resolve(waiters, SyncFinished(peer, 0, True, 0, {}, None))
            return
        sid, envelopes = started
        self.counters["sessions_started"] += 1
        self._by_sid[(peer, sid)] = waiters
        if peer in self._retrying:
            self._retrying.discard(peer)
            self._last_tries.add((peer, sid))
        for envelope in envelopes:
            if not self.links.send_now(peer, CHANNEL, envelope):
                self._last_tries.add((peer, sid))  # the link is unusable now: no retry
                self.hub.drop_peer(peer)
                break
        self._after_sessions()

    def _after_sessions(self) -> None:
        for peer, event in self.hub.events():
            if isinstance(event, EntriesStored):
                self.counters["entries_received"] += len(event.ids)
                others = [p for p in self.links.online() if p != peer]
                self._pending.update(self._sharing(event.space, others))
            elif isinstance(event, SplitViewDetected):
                self._split_view(peer, event)
        for done in self.hub.finished():
            self._finished(done)

    def _finished(self, done: SyncFinished) -> None:
        outcome = "failed" if done.error else "completed"
        self.counters[f"sessions_{outcome}"] += 1
        for reason, count in done.refused.items():
            self.counters[f"refused_{reason}"] += count
        for hook in self.on_session:
            hook(done)
        if not done.initiator:
            return
        if done.error is None:
            self.last_sync[done.peer] = time.time()
            if self.restored_marker is not None:
                self.restored_marker.unlink(missing_ok=True)  # our own chain is current again
        waiters = self._by_sid.pop((done.peer, done.sid), [])
        final = (done.peer, done.sid) in self._last_tries
        self._last_tries.discard((done.peer, done.sid))
        if done.error == LINK_CLOSED and not final:
            # the link was replaced (both sides dialed) or dropped: run the sync once more,
            # on the next link; waiters get that result, or "offline" if none comes up
            self._waiting.setdefault(done.peer, []).extend(waiters)
            self._retrying.add(done.peer)
            self._pending.add(done.peer)
            return
        self._resolve(waiters, done)
        if done.peer in self._again:
            self._again.discard(done.peer)
            self._pending.add(done.peer)

    def _split_view(self, peer: bytes, event: SplitViewDetected) -> None:
        self.counters["split_views"] += 1
        log.warning("memory: split view from a contact: %s", event.reason)
        report = {"peer": peer.hex(), "reason": event.reason, "at": time.time()}
        self.split_views = [*self.split_views, report][-MAX_SPLIT_VIEWS:]
        for hook in self.on_split_view:
            hook(peer, event.reason)

    def _fail_waiters(self, peer: bytes, reason: str) -> None:
        self._resolve(self._waiting.pop(peer, []), SyncFinished(peer, 0, True, 0, {}, reason))

    def _sharing(self, space: str, peers: Iterable[bytes]) -> set[bytes]:
        shared = self.hub.store.space(space)
        return {p for p in peers if shared is not None and shared.includes(p)}

    @staticmethod
    def _resolve(waiters: list[asyncio.Future[SyncFinished]], result: SyncFinished) -> None:
        for future in waiters:
            with contextlib.suppress(asyncio.InvalidStateError):
                future.set_result(result)
