"""The node's event stream: a bus with bounded subscribers, a polling feed, a WebSocket route.

Events are JSON ``{"type": ..., "at": <unix seconds>, "data": ...}``. Types:

- ``status``: the node's status (as ``GET /api/v1/status``), when it changes;
- ``peers``: every contact's link (as ``GET /api/v1/peers``), when one goes
  online or offline or its RTT, state or queue changes;
- ``traffic``: per-link byte deltas since the previous tick (``wire_bytes -
  payload_bytes`` is padding and cover), each second while any link is up;
- ``memory``: the memory statistics (as ``GET /api/v1/memory/stats``), when they change;
- ``round``: one convergence round's view (as ``GET /api/v1/rounds/{id}``), when it changes.

A new subscriber first gets a snapshot: one ``status``, ``peers`` and ``memory``
event and a ``round`` event per live round. A subscriber that falls more than
its queue's size behind is dropped (its WebSocket is closed with code 1013).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSCloseCode, web

from gateway.errors import GatewayError

log = logging.getLogger("gateway.api")

PATH = "/api/v1/events"
#: events a subscriber may lag behind before it is dropped
QUEUE_SIZE = 256
#: the subprotocol a browser client names besides ``bearer.<token>``
PROTOCOL = "gateway.events.v1"
#: peer fields whose change is a ``peers`` event (byte counters go in ``traffic``)
PEER_KEYS = ("state", "online", "rtt_ms", "direction", "queued", "nickname", "last_seen")
TRAFFIC_KEYS = ("payload_bytes", "wire_bytes", "dummies")


@dataclass(frozen=True)
class Event:
    type: str
    at: float
    data: Any

    def to_json(self) -> str:
        return json.dumps({"type": self.type, "at": self.at, "data": self.data})


class Subscription:
    """One subscriber's bounded queue of events."""

    def __init__(self, bus: EventBus, size: int) -> None:
        self._bus = bus
        self._size = size
        self._events: collections.deque[Event] = collections.deque()
        self._ready = asyncio.Event()
        #: "dropped" (fell behind), "closed" (unsubscribed) or None while open
        self.ended: str | None = None

    def offer(self, event: Event, *, force: bool = False) -> bool:
        """Queue ``event``; False (and the subscription ends) when the queue is full."""
        if self.ended is not None:
            return False
        if len(self._events) >= self._size and not force:
            self._end("dropped")
            return False
        self._events.append(event)
        self._ready.set()
        return True

    async def next(self) -> Event | None:
        """The next event; None once the subscription ended."""
        while not self._events:
            if self.ended is not None:
                return None
            self._ready.clear()
            await self._ready.wait()
        if self.ended == "dropped":
            return None
        return self._events.popleft()

    def close(self) -> None:
        self._end("closed")

    def _end(self, why: str) -> None:
        if self.ended is None:
            self.ended = why
            self._events.clear()
            self._ready.set()
            self._bus.forget(self)


class EventBus:
    """Fans events out to subscribers; slow subscribers are dropped, never waited for."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subs: list[Subscription] = []
        self.published = 0
        self.dropped = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self, first: Iterable[Event] = ()) -> Subscription:
        """A new subscription that gets ``first`` (a snapshot) before anything published."""
        sub = Subscription(self, self.queue_size)
        for event in first:
            sub.offer(event, force=True)
        self._subs.append(sub)
        return sub

    def publish(self, event: Event) -> None:
        self.published += 1
        for sub in list(self._subs):
            if not sub.offer(event):
                self.dropped += 1

    def forget(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)


# --- the feed -------------------------------------------------------------------------------


class RoundViews(Protocol):
    """What the feed reads of the rounds service."""

    @property
    def views(self) -> Mapping[bytes, Mapping[str, Any]]: ...

    def view(self, rid: bytes) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class FeedSources:
    """Where the feed polls: each callable returns JSON-ready data."""

    status: Callable[[], Mapping[str, Any]]
    peers: Callable[[], Sequence[Mapping[str, Any]]]
    memory: Callable[[], Mapping[str, Any]]
    rounds: RoundViews | None = None


def _dump(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class EventFeed:
    """Polls the services and publishes what changed (no hooks in the services needed)."""

    def __init__(
        self,
        bus: EventBus,
        sources: FeedSources,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.sources = sources
        self.interval = interval
        self.clock = clock
        self._last: dict[str, str] = {}
        self._rounds: dict[bytes, str] = {}
        self._traffic: dict[str, tuple[int, ...]] = {}
        self._tick_at: float | None = None

    def snapshot(self) -> list[Event]:
        """The current state as events, for a new subscriber."""
        now = self.clock()
        events = [
            Event("status", now, dict(self.sources.status())),
            Event("peers", now, [dict(p) for p in self.sources.peers()]),
            Event("memory", now, dict(self.sources.memory())),
        ]
        rounds = self.sources.rounds
        if rounds is not None:
            events += [Event("round", now, dict(v)) for v in list(rounds.views.values())]
        return events

    def tick(self) -> list[Event]:
        """Poll once; publish and return the events for what changed."""
        now = self.clock()
        events: list[Event] = []
        for kind, read in (("status", self.sources.status), ("memory", self.sources.memory)):
            self._changed(events, now, kind, dict(read()))
        peers = [dict(p) for p in self.sources.peers()]
        self._changed(
            events, now, "peers", peers, [{k: p.get(k) for k in PEER_KEYS} for p in peers]
        )
        traffic = self._traffic_delta(now, peers)
        if traffic is not None:
            events.append(traffic)
        events += self._round_changes(now)
        self._tick_at = now
        for event in events:
            self.bus.publish(event)
        return events

    async def run(self) -> None:
        """Tick every ``interval`` seconds until cancelled."""
        while True:
            try:
                self.tick()
            except GatewayError as exc:
                log.warning("event feed: %s", exc)
            await asyncio.sleep(self.interval)

    def _changed(
        self, out: list[Event], now: float, kind: str, data: Any, key: object = None
    ) -> None:
        digest = _dump(data if key is None else key)
        if self._last.get(kind) != digest:
            self._last[kind] = digest
            out.append(Event(kind, now, data))

    def _traffic_delta(self, now: float, peers: list[dict[str, Any]]) -> Event | None:
        links, total = (
            [],
            dict.fromkeys(("payload_bytes", "wire_bytes", "padding_bytes", "dummies"), 0),
        )
        current: dict[str, tuple[int, ...]] = {}
        for peer in peers:
            if not peer.get("online"):
                continue
            ident = str(peer.get("identity"))
            counts = tuple(int(peer.get(k) or 0) for k in TRAFFIC_KEYS)
            before = self._traffic.get(ident, (0, 0, 0))
            if any(c < b for c, b in zip(counts, before, strict=True)):
                before = (0, 0, 0)  # a new link: its counters started again
            delta = dict(
                zip(TRAFFIC_KEYS, (c - b for c, b in zip(counts, before, strict=True)), strict=True)
            )
            delta["padding_bytes"] = max(0, delta["wire_bytes"] - delta["payload_bytes"])
            current[ident] = counts
            links.append({"identity": ident, "nickname": peer.get("nickname"), **delta})
            for k in total:
                total[k] += delta[k]
        had_links = bool(self._traffic)
        self._traffic = current
        if not links and not had_links:
            return None
        since = self._tick_at
        interval = round(now - since, 3) if since is not None else 0.0
        return Event("traffic", now, {"interval": interval, "links": links, "total": total})

    def _round_changes(self, now: float) -> list[Event]:
        rounds = self.sources.rounds
        if rounds is None:
            return []
        live = dict(rounds.views)
        events = []
        for rid in [r for r in self._rounds if r not in live]:  # finished and forgotten
            try:
                live[rid] = rounds.view(rid)
            except GatewayError:
                del self._rounds[rid]
        seen: dict[bytes, str] = {}
        for rid, view in live.items():
            digest = _dump(view)
            seen[rid] = digest
            if self._rounds.get(rid) != digest:
                events.append(Event("round", now, dict(view)))
        self._rounds = {rid: d for rid, d in seen.items() if rid in rounds.views}
        return events


# --- the route ---------------------------------------------------------------------------------


class EventRoutes:
    """``GET /api/v1/events``: the WebSocket event stream (the auth middleware checks the token)."""

    def __init__(self, bus: EventBus, feed: EventFeed | None = None, heartbeat: float = 30.0):
        self.bus = bus
        self.feed = feed
        self.heartbeat = heartbeat

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(PATH, self._events)

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        protocols = [PROTOCOL, *_bearer_offers(request)]
        ws = web.WebSocketResponse(protocols=protocols, heartbeat=self.heartbeat)
        await ws.prepare(request)
        sub = self.bus.subscribe(self.feed.snapshot() if self.feed is not None else ())
        reader = asyncio.ensure_future(_drain_incoming(ws))
        try:
            while not ws.closed:
                getter = asyncio.ensure_future(sub.next())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break  # the client closed
                event = getter.result()
                if event is None:
                    await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")
                    break
                await ws.send_str(event.to_json())
        except (ConnectionError, RuntimeError):
            pass  # the client went away mid-send
        finally:
            sub.close()
            reader.cancel()
            await ws.close()
        return ws


def _bearer_offers(request: web.Request) -> list[str]:
    """The ``bearer.<token>`` subprotocols offered (echoed only if nothing else is chosen)."""
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in offered.split(",") if p.strip().startswith("bearer.")]


async def _drain_incoming(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so pings and its close are handled."""
    async for _ in ws:
        pass
