"""The event bus, the polling feed and the WebSocket event stream."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from gateway.api.events import PATH, Event, EventBus, EventFeed, FeedSources
from gateway.api.status import NodeStatus
from gateway.config.schema import Level
from gateway.errors import RoundError
from gateway.tor.progress import BootstrapPhase
from tests.unit.api.nodeapp import NodeApp

# --- the bus -----------------------------------------------------------


def ev(n: int) -> Event:
    return Event("status", float(n), {"n": n})


async def test_snapshot_comes_first_then_published() -> None:
    bus = EventBus()
    sub = bus.subscribe([ev(0), ev(1)])
    bus.publish(ev(2))
    got = [await sub.next() for _ in range(3)]
    assert [e.data["n"] for e in got if e is not None] == [0, 1, 2]


async def test_slow_subscriber_is_dropped_fast_one_kept() -> None:
    bus = EventBus(queue_size=3)
    slow, fast = bus.subscribe(), bus.subscribe()
    for n in range(3):
        bus.publish(ev(n))
        assert (await fast.next()) == ev(n)
    bus.publish(ev(3))  # slow has 3 waiting: this one overflows it
    assert slow.ended == "dropped" and await slow.next() is None
    assert bus.subscribers == 1 and bus.dropped == 1
    assert (await fast.next()) == ev(3)


async def test_closed_subscription_gets_nothing() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    sub.close()
    bus.publish(ev(1))
    assert await sub.next() is None and bus.subscribers == 0


def test_event_json() -> None:
    assert json.loads(Event("peers", 1.5, [1]).to_json()) == {
        "type": "peers",
        "at": 1.5,
        "data": [1],
    }


# --- the feed -----------------------------------------------------------


class Rounds:
    def __init__(self) -> None:
        self.views: dict[bytes, dict[str, Any]] = {}
        self.saved: dict[bytes, dict[str, Any]] = {}

    def view(self, rid: bytes) -> Mapping[str, Any]:
        if rid not in self.saved:
            raise RoundError("no such round")
        return self.saved[rid]


class Sources:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {"tor": "starting"}
        self.memory: dict[str, Any] = {"entries": 0}
        self.peers: list[dict[str, Any]] = [peer("aa", online=False)]
        self.rounds = Rounds()

    def feed(self, bus: EventBus, clock: list[float]) -> EventFeed:
        sources = FeedSources(
            status=lambda: self.status,
            peers=lambda: self.peers,
            memory=lambda: self.memory,
            rounds=self.rounds,
        )
        return EventFeed(bus, sources, clock=lambda: clock[0])


def peer(ident: str, *, online: bool, payload: int = 0, wire: int = 0) -> dict[str, Any]:
    return {
        "identity": ident,
        "nickname": "bob",
        "online": online,
        "rtt_ms": None,
        "state": "paired",
        "payload_bytes": payload,
        "wire_bytes": wire,
        "dummies": 0,
    }


def kinds(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def test_feed_publishes_only_changes() -> None:
    src, bus, clock = Sources(), EventBus(), [100.0]
    feed = src.feed(bus, clock)
    sub = bus.subscribe()
    assert kinds(feed.tick()) == ["status", "memory", "peers"]
    assert feed.tick() == []
    src.memory = {"entries": 1}
    assert kinds(feed.tick()) == ["memory"]
    src.status = {"tor": "published"}
    assert [e.data for e in feed.tick()] == [{"tor": "published"}]
    assert bus.published == 5 and sub.ended is None


def test_peers_event_on_online_not_on_bytes() -> None:
    src, bus, clock = Sources(), EventBus(), [100.0]
    feed = src.feed(bus, clock)
    feed.tick()
    src.peers = [peer("aa", online=True, payload=10, wire=498)]
    assert kinds(feed.tick()) == ["peers", "traffic"]
    src.peers = [peer("aa", online=True, payload=30, wire=996)]
    assert kinds(feed.tick()) == ["traffic"]


def test_traffic_deltas_and_padding() -> None:
    src, bus, clock = Sources(), EventBus(), [100.0]
    feed = src.feed(bus, clock)
    src.peers = [peer("aa", online=True, payload=100, wire=498)]
    feed.tick()
    clock[0] = 101.0
    src.peers = [peer("aa", online=True, payload=150, wire=996)]
    (traffic,) = [e for e in feed.tick() if e.type == "traffic"]
    link = traffic.data["links"][0]
    assert (link["payload_bytes"], link["wire_bytes"], link["padding_bytes"]) == (50, 498, 448)
    assert traffic.data["interval"] == 1.0 and traffic.data["total"]["wire_bytes"] == 498
    src.peers = [peer("aa", online=True, payload=5, wire=498)]  # a new link: counters restarted
    (traffic,) = [e for e in feed.tick() if e.type == "traffic"]
    assert traffic.data["links"][0]["wire_bytes"] == 498
    src.peers = [peer("aa", online=False)]
    (last,) = [e for e in feed.tick() if e.type == "traffic"]
    assert last.data["links"] == []  # one closing event after the last link went down
    assert "traffic" not in kinds(feed.tick())


def test_round_changes_and_finished_rounds() -> None:
    src, bus, clock = Sources(), EventBus(), [100.0]
    feed = src.feed(bus, clock)
    feed.tick()
    rid = b"\x01" * 16
    src.rounds.views[rid] = {"round_id": "01", "stage": "commit", "faults": []}
    assert [e.data["stage"] for e in feed.tick() if e.type == "round"] == ["commit"]
    assert feed.tick() == []
    src.rounds.views[rid]["faults"].append({"peer": "x"})
    assert kinds(feed.tick()) == ["round"]
    done = {"round_id": "01", "stage": "done", "faults": [{"peer": "x"}], "result": {"text": "42"}}
    src.rounds.saved[rid] = done
    del src.rounds.views[rid]  # finished and forgotten between two ticks
    assert [e.data for e in feed.tick()] == [done]
    assert feed.tick() == []


def test_snapshot_has_everything() -> None:
    src, bus, clock = Sources(), EventBus(), [100.0]
    src.rounds.views[b"\x02" * 16] = {"round_id": "02", "stage": "answer"}
    snap = src.feed(bus, clock).snapshot()
    assert kinds(snap) == ["status", "peers", "memory", "round"]
    assert snap[1].data == src.peers


# --- node status -----------------------------------------------------------


def test_node_status_follows_bootstrap_and_publication() -> None:
    status = NodeStatus(Level.HIGH)
    display = status.display(io.StringIO())
    assert status.as_json()["tor"] == "bootstrapping"
    display.show(BootstrapPhase(45, "loading_descriptors", "Loading relay descriptors"))
    shown = status.as_json()
    assert shown["bootstrap"]["progress"] == 45 and shown["level"] == "high"
    display.show(BootstrapPhase(100, "done", "Done"))
    assert status.as_json()["tor"] == "publishing"
    status.published("abc.onion")
    assert (status.as_json()["tor"], status.as_json()["onion"]) == ("published", "abc.onion")
    status.down()
    assert status.as_json()["tor"] == "down"


# --- the WebSocket -----------------------------------------------------------


async def test_websocket_snapshot_then_events(node: NodeApp) -> None:
    auth = {"Authorization": f"Bearer {node.token}"}
    async with TestClient(TestServer(node.app)) as client:
        ws = await client.ws_connect(PATH, headers=auth)
        snap = [await ws.receive_json() for _ in range(3)]
        assert [e["type"] for e in snap] == ["status", "peers", "memory"]
        assert snap[0]["data"]["level"] == "standard" and snap[2]["data"]["entries"] == 0
        baseline = node.feed.tick()  # the feed's first poll: everything, once
        assert [(await ws.receive_json())["type"] for _ in baseline] == [e.type for e in baseline]
        put = await client.post("/api/v1/memory", json={"text": "hello"}, headers=auth)
        assert put.status == 201
        node.node.published("abc.onion")
        events = node.feed.tick()
        assert {e.type for e in events} == {"status", "memory"}
        got = {m["type"]: m for m in [await ws.receive_json() for _ in events]}
        assert got["memory"]["data"]["entries"] == 1
        assert got["status"]["data"]["onion"] == "abc.onion"
        await ws.close()
    assert node.bus.subscribers == 0


async def test_slow_websocket_is_closed(node: NodeApp) -> None:
    node.bus.queue_size = 2
    async with TestClient(TestServer(node.app)) as client:
        ws = await client.ws_connect(PATH, params={"token": node.token})
        for n in range(50):
            node.bus.publish(ev(n))  # no await between: the queue overflows
        messages = []
        async for msg in ws:
            messages.append(msg)
        assert ws.close_code == 1013
        assert node.bus.dropped >= 1 and node.bus.subscribers == 0
