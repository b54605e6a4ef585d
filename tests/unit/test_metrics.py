"""Node metrics: families read from fake services at scrape time, Prometheus text format."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.server import LocalApi
from gateway.errors import StoreError
from gateway.metrics import (
    MetricsRoutes,
    NodeMetrics,
    RunningTotal,
    SendMeter,
    label,
    round_latency,
)

ALICE = "aa" * 32
BOB = "bb" * 32


@dataclass(frozen=True)
class Peer:
    identity: str
    online: bool
    payload_bytes: int = 0
    wire_bytes: int = 0
    dummies: int = 0


@dataclass
class FakeLinks:
    counters: Counter[str] = field(default_factory=Counter)
    traffic: list[Peer] = field(default_factory=list)
    sent: list[tuple[bytes, str, bytes]] = field(default_factory=list)

    def peers(self) -> list[Peer]:
        return list(self.traffic)

    def online(self) -> list[bytes]:
        return [bytes.fromhex(p.identity) for p in self.traffic if p.online]

    def send_now(self, contact: bytes, channel: str, body: bytes) -> bool:
        self.sent.append((contact, channel, body))
        return contact != b"\x00"


@dataclass
class FakeCounters:
    counters: Counter[str] = field(default_factory=Counter)


@dataclass
class FakeStore:
    counts: dict[str, int] = field(default_factory=dict)
    broken: bool = False

    def rejection_counts(self) -> dict[str, int]:
        if self.broken:
            raise StoreError("database is locked")
        return dict(self.counts)


@dataclass
class FakeRounds:
    counters: Counter[str] = field(default_factory=Counter)
    views: dict[bytes, dict[str, Any]] = field(default_factory=dict)


def samples(metrics: NodeMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed back from the text format."""
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: NodeMetrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def view(
    created: float, stages: list[tuple[str, float]], status: str = "completed"
) -> dict[str, Any]:
    return {
        "role": "asker",
        "status": status,
        "created": created,
        "stages": [{"stage": s, "at": at} for s, at in stages],
    }


# --- links ------------------------------------------------------------------------------


def test_link_traffic_is_summed_over_peers() -> None:
    links = FakeLinks(
        traffic=[Peer(ALICE, True, 100, 1500, 3), Peer(BOB, False, 50, 700, 1)],
    )
    metrics = NodeMetrics(links=lambda: links)
    assert value(metrics, "gateway_link_bytes_total", kind="payload") == 150
    assert value(metrics, "gateway_link_bytes_total", kind="wire") == 2200
    assert value(metrics, "gateway_link_bytes_total", kind="padding") == 2050
    assert value(metrics, "gateway_link_frames_total", kind="cover") == 4
    assert value(metrics, "gateway_peers_online") == 1


def test_link_totals_survive_a_link_closing() -> None:
    links = FakeLinks(traffic=[Peer(ALICE, True, 100, 1500, 3)])
    metrics = NodeMetrics(links=lambda: links)
    samples(metrics)
    links.traffic = [Peer(ALICE, True, 10, 200, 1)]  # a new link: its counters restarted
    assert value(metrics, "gateway_link_bytes_total", kind="wire") == 1700
    links.traffic = []  # gone
    assert value(metrics, "gateway_link_bytes_total", kind="wire") == 1700
    assert value(metrics, "gateway_link_frames_total", kind="cover") == 4


def test_no_peer_identity_in_the_scrape() -> None:
    links = FakeLinks(traffic=[Peer(ALICE, True, 1, 2, 3)], counters=Counter({"link_x": 1}))
    text = NodeMetrics(links=lambda: links).render().decode()
    assert ALICE not in text and "aaaa" not in text


def test_link_counters_by_family() -> None:
    links = FakeLinks(
        counters=Counter(
            {
                "link_resumed": 4,
                "link_new_session": 2,
                "dial_failed": 5,
                "rate_limited": 7,
                "handshake_DecryptError": 1,
                "link_bad_frame": 3,
                "duplicate_link_dropped": 9,
            }
        )
    )
    front = FakeCounters(Counter({"http": 11, "link": 6, "rejected_ProtocolError": 2}))
    metrics = NodeMetrics(links=lambda: links, front=lambda: front)
    got = samples(metrics)
    opens = {k[1]: v for k, v in got.items() if k[0] == "gateway_link_opens_total"}
    assert opens == {(("session", "resumed"),): 4, (("session", "new"),): 2}
    assert value(metrics, "gateway_link_dial_failures_total") == 5
    rejections = {
        dict(k[1])["reason"]: v for k, v in got.items() if k[0] == "gateway_link_rejections_total"
    }
    assert rejections == {
        "rate_limited": 7,
        "handshake_DecryptError": 1,
        "bad_frame": 3,
        "front_ProtocolError": 2,
    }
    assert value(metrics, "gateway_link_events_total", event="duplicate_link_dropped") == 9
    assert value(metrics, "gateway_front_connections_total", kind="http") == 11
    assert value(metrics, "gateway_front_connections_total", kind="link") == 6


def test_payload_records_come_from_the_tap() -> None:
    metrics = NodeMetrics()
    for cover in (False, False, True):
        metrics.on_record(b"x" * 100, cover)
    assert value(metrics, "gateway_link_frames_total", kind="payload") == 2


# --- memory ------------------------------------------------------------------------------


def test_memory_families() -> None:
    sync = FakeCounters(
        Counter(
            {
                "sessions_started": 6,
                "sessions_completed": 4,
                "sessions_failed": 1,
                "entries_received": 40,
                "refused_bad_signature": 2,
                "split_views": 1,
            }
        )
    )
    store = FakeStore({"fork": 3, "bad_signature": 2})
    metrics = NodeMetrics(sync=lambda: sync, store=lambda: store)
    assert value(metrics, "gateway_memory_sync_sessions_total", outcome="started") == 6
    assert value(metrics, "gateway_memory_sync_sessions_total", outcome="completed") == 4
    assert value(metrics, "gateway_memory_sync_sessions_total", outcome="failed") == 1
    assert value(metrics, "gateway_memory_entries_received_total") == 40
    assert value(metrics, "gateway_memory_split_views_total") == 1
    assert value(metrics, "gateway_memory_sync_refused_total", reason="bad_signature") == 2
    assert value(metrics, "gateway_memory_rejections_total", reason="fork") == 3


def test_a_failing_source_does_not_break_the_scrape() -> None:
    store = FakeStore(broken=True)
    links = FakeLinks(traffic=[Peer(ALICE, True, 1, 9, 0)])
    metrics = NodeMetrics(links=lambda: links, store=lambda: store)
    got = samples(metrics)
    assert got[("gateway_link_bytes_total", (("kind", "wire"),))] == 9
    assert not any(name.startswith("gateway_memory_") for name, _ in got)


def test_channel_meters_count_messages_and_bytes() -> None:
    metrics = NodeMetrics()
    handler = metrics.meter_handler("memory", lambda contact, body: [body * 2, b"ok"])
    assert list(handler(b"c", b"abc") or []) == [b"abcabc", b"ok"]
    quiet = metrics.meter_handler("memory", lambda contact, body: None)
    assert quiet(b"c", b"z") is None
    links = FakeLinks(traffic=[Peer(ALICE, True)])
    sender = SendMeter(links, metrics)
    assert sender.online() == [bytes.fromhex(ALICE)]
    assert sender.send_now(b"c", "memory", b"12345")
    assert not sender.send_now(b"\x00", "memory", b"lost")  # no link: not counted
    assert value(metrics, "gateway_channel_messages_total", channel="memory", direction="in") == 2
    assert value(metrics, "gateway_channel_bytes_total", channel="memory", direction="in") == 4
    assert value(metrics, "gateway_channel_messages_total", channel="memory", direction="out") == 3
    assert value(metrics, "gateway_channel_bytes_total", channel="memory", direction="out") == 13


# --- rounds ------------------------------------------------------------------------------


def test_round_latency_is_pushed_when_a_round_finishes() -> None:
    done = view(100.0, [("reveal", 103.0), ("synthesis", 110.0), ("done", 112.5)])
    rounds = FakeRounds(
        counters=Counter({"refused_rate_limited": 2, "bad_round": 1}),
        views={b"r1": done, b"r2": view(100.0, [("reveal", 101.0)], status="running")},
    )
    metrics = NodeMetrics(rounds=lambda: rounds)
    samples(metrics)
    assert value(metrics, "gateway_round_latency_seconds_count") == 0  # nothing pushed yet
    metrics.round_finished(done)
    metrics.round_finished(rounds.views[b"r2"])  # still running: not observed
    assert value(metrics, "gateway_round_latency_seconds_count") == 1
    assert value(metrics, "gateway_round_latency_seconds_sum") == 12.5
    assert value(metrics, "gateway_round_stage_seconds_sum", stage="reveal") == 3.0
    assert value(metrics, "gateway_round_stage_seconds_sum", stage="done") == 2.5
    assert value(metrics, "gateway_round_refusals_total", reason="rate_limited") == 2
    assert value(metrics, "gateway_round_refusals_total", reason="bad_round") == 1
    assert value(metrics, "gateway_rounds", role="asker", status="running") == 1
    assert value(metrics, "gateway_rounds", role="asker", status="completed") == 1


def test_observe_round_feeds_the_histogram() -> None:
    metrics = NodeMetrics()
    metrics.observe_round(4.0)
    metrics.observe_round(45.0)
    assert value(metrics, "gateway_round_latency_seconds_count") == 2
    assert value(metrics, "gateway_round_latency_seconds_bucket", le="5.0") == 1
    assert value(metrics, "gateway_round_latency_seconds_bucket", le="60.0") == 2


def test_round_latency_of_a_view() -> None:
    assert round_latency(view(10.0, [("reveal", 11.0)])) is None
    assert round_latency(view(10.0, [])) is None
    assert round_latency(view(10.0, [("reveal", 12.0), ("done", 15.0)])) == (
        5.0,
        [("reveal", 2.0), ("done", 3.0)],
    )


# --- tor ----------------------------------------------------------------------------------


def test_tor_bootstrap_and_circuits() -> None:
    metrics = NodeMetrics()
    assert value(metrics, "gateway_tor_bootstrap_percent") == 0
    metrics.set_bootstrap_percent(85)
    assert value(metrics, "gateway_tor_bootstrap_percent") == 85
    for status in ("BUILT", "built", "FAILED", "WEIRD"):
        metrics.on_circuit_event(status)

    class Event:
        status = "CLOSED"

    metrics.circuit_listener(Event())
    assert value(metrics, "gateway_tor_circuit_events_total", status="BUILT") == 2
    assert value(metrics, "gateway_tor_circuit_events_total", status="FAILED") == 1
    assert value(metrics, "gateway_tor_circuit_events_total", status="CLOSED") == 1
    assert value(metrics, "gateway_tor_circuit_events_total", status="other") == 1


def test_bootstrap_source_wins_over_the_pushed_value() -> None:
    metrics = NodeMetrics(bootstrap=lambda: 100)
    metrics.set_bootstrap_percent(10)
    assert value(metrics, "gateway_tor_bootstrap_percent") == 100


def test_circuit_events_from_another_thread() -> None:
    metrics = NodeMetrics()
    threads = [
        threading.Thread(target=lambda: [metrics.on_circuit_event("BUILT") for _ in range(500)])
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert value(metrics, "gateway_tor_circuit_events_total", status="BUILT") == 2000


# --- helpers and the route --------------------------------------------------------------


def test_running_total() -> None:
    total = RunningTotal()
    assert total.update({"a": 5, "b": 1}) == 6
    assert total.update({"a": 7, "b": 1}) == 8
    assert total.update({"a": 2}) == 10  # a restarted, b gone
    assert total.update({}) == 10


def test_label_cleaning() -> None:
    assert label("bad signature:x") == "bad_signature_x"
    assert label("") == "unknown"
    assert len(label("x" * 500)) == 48


def test_every_family_parses_and_is_private_to_the_node() -> None:
    first, second = NodeMetrics(), NodeMetrics()
    first.observe_round(1.0)
    assert value(second, "gateway_round_latency_seconds_count") == 0
    names = {f.name for f in text_string_to_metric_families(first.render().decode())}
    expected = {
        "gateway_link_bytes",
        "gateway_link_frames",
        "gateway_link_rejections",
        "gateway_memory_sync_sessions",
        "gateway_memory_entries_received",
        "gateway_memory_rejections",
        "gateway_round_latency_seconds",
        "gateway_tor_bootstrap_percent",
        "gateway_tor_circuit_events",
        "gateway_peers_online",
        "gateway_channel_bytes",
    }
    assert expected <= names


@pytest.fixture
async def client() -> Any:
    metrics = NodeMetrics(links=lambda: FakeLinks(traffic=[Peer(ALICE, True, 3, 4, 5)]))
    app = web.Application()
    MetricsRoutes(metrics).add_to(app)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_route_serves_the_text_format(client: Any) -> None:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert 'gateway_link_bytes_total{kind="wire"} 4.0' in text


async def test_route_is_behind_the_api_token() -> None:
    metrics = NodeMetrics()
    api = LocalApi(cast(Any, None), cast(Any, None), dict, [MetricsRoutes(metrics)])
    async with TestClient(TestServer(api.app("s3cret"))) as c:
        assert (await c.get("/metrics")).status == 401
        ok = await c.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200
        assert "gateway_tor_bootstrap_percent" in await ok.text()
