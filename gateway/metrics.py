"""Prometheus metrics of a running node, read from its live counters at scrape time.

:class:`NodeMetrics` keeps a private ``CollectorRegistry``. Its collector asks
the node's services (given as callables, so the services need no metrics code)
for their counters whenever ``/metrics`` is scraped. A few things are pushed
instead, through methods: round latencies (:meth:`NodeMetrics.observe_round`),
tor circuit events (:meth:`NodeMetrics.on_circuit_event`), tor's bootstrap
progress, written records (:meth:`NodeMetrics.on_record`, a pacer tap) and the
bytes of app channels (:meth:`NodeMetrics.meter_handler`, :class:`SendMeter`).

No label carries a contact, an onion address or a key: traffic is summed over
all peers, and reasons are cleaned to ``[A-Za-z0-9_]``.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiohttp import web

from gateway.errors import GatewayError

if TYPE_CHECKING:  # prometheus_client loads at the first scrape, not with the node
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )

log = logging.getLogger("gateway.metrics")

PATH = "/metrics"
#: seconds: a round takes its stage deadlines (tens of seconds) plus the AIs' answers
ROUND_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
#: circuit statuses tor reports in CIRC events; anything else counts as "other"
CIRCUIT_STATUSES = frozenset({"LAUNCHED", "BUILT", "GUARD_WAIT", "EXTENDED", "FAILED", "CLOSED"})
_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_]")
MAX_LABEL = 48

T = TypeVar("T")

# --- what the node's services offer -------------------------------------------------------


class PeerTraffic(Protocol):
    """One contact's link traffic (``LinkManager.peers()`` items)."""

    @property
    def identity(self) -> str: ...
    @property
    def online(self) -> bool: ...
    @property
    def payload_bytes(self) -> int: ...
    @property
    def wire_bytes(self) -> int: ...
    @property
    def dummies(self) -> int: ...


class LinkSource(Protocol):
    """The link manager: event counters and per-contact traffic."""

    @property
    def counters(self) -> Mapping[str, int]: ...
    def peers(self) -> Sequence[PeerTraffic]: ...


class CounterSource(Protocol):
    """A service with a ``counters`` mapping (front door, memory sync, rounds)."""

    @property
    def counters(self) -> Mapping[str, int]: ...


class RejectionSource(Protocol):
    """The memory store: entries refused, by reason."""

    def rejection_counts(self) -> Mapping[str, int]: ...


class RoundsSource(Protocol):
    """The rounds service: refusal counters and the views of its rounds."""

    @property
    def counters(self) -> Mapping[str, int]: ...
    @property
    def views(self) -> Mapping[bytes, Mapping[str, Any]]: ...


class Sender(Protocol):
    """What a channel's sender (memory sync) needs of the link manager."""

    def online(self) -> list[bytes]: ...
    def send_now(self, contact: bytes, channel: str, body: bytes) -> bool: ...


Source = Callable[[], T | None]
ChannelHandler = Callable[[bytes, bytes], Iterable[bytes] | None]


def label(value: str) -> str:
    """A label value from a counter key: ``[A-Za-z0-9_]``, at most MAX_LABEL characters."""
    return _LABEL_CHARS.sub("_", value)[:MAX_LABEL] or "unknown"


def _none() -> None:
    return None


# --- running totals -----------------------------------------------------------------------


class RunningTotal:
    """A monotonic sum of per-key counters that restart (a link's counters begin at 0).

    When a key's value drops (a new link) or the key is gone, what it had
    counted is kept; what it counted after the last update is lost.
    """

    def __init__(self) -> None:
        self._kept = 0
        self._last: dict[str, int] = {}

    def update(self, current: Mapping[str, int]) -> int:
        for key, value in current.items():
            last = self._last.get(key, 0)
            if value < last:
                self._kept += last
            self._last[key] = value
        for key in [k for k in self._last if k not in current]:
            self._kept += self._last.pop(key)
        return self._kept + sum(self._last.values())


class _LinkTotals:
    def __init__(self) -> None:
        self.payload = RunningTotal()
        self.wire = RunningTotal()
        self.cover = RunningTotal()
        self.padding = 0

    def update(self, peers: Sequence[PeerTraffic]) -> tuple[int, int, int, int, int]:
        """(payload bytes, wire bytes, padding bytes, cover records, peers online)."""
        payload = self.payload.update({p.identity: p.payload_bytes for p in peers})
        wire = self.wire.update({p.identity: p.wire_bytes for p in peers})
        cover = self.cover.update({p.identity: p.dummies for p in peers})
        # queued payload is counted before it is written: never let the difference go back
        self.padding = max(self.padding, wire - payload)
        online = sum(1 for p in peers if p.online)
        return payload, wire, self.padding, cover, online


# --- families -------------------------------------------------------------------------------


def _counter(name: str, doc: str, labels: Sequence[str] = ()) -> CounterMetricFamily:
    from prometheus_client.core import CounterMetricFamily

    return CounterMetricFamily(name, doc, labels=list(labels))


def _gauge(name: str, doc: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    from prometheus_client.core import GaugeMetricFamily

    return GaugeMetricFamily(name, doc, labels=list(labels))


def _split(counters: Mapping[str, int], prefix: str) -> dict[str, int]:
    """The counters named ``prefix<rest>``, by ``<rest>`` (label-cleaned)."""
    out: Counter[str] = Counter()
    for key, value in counters.items():
        if key.startswith(prefix):
            out[label(key[len(prefix) :])] += value
    return dict(out)


def link_families(
    counters: Mapping[str, int], front: Mapping[str, int]
) -> list[CounterMetricFamily]:
    """Link openings, dial failures, rejections (link and front door) and other link events."""
    opens = _counter("gateway_link_opens", "Links opened, by session", ["session"])
    opens.add_metric(["resumed"], counters.get("link_resumed", 0))
    opens.add_metric(["new"], counters.get("link_new_session", 0))
    dials = _counter("gateway_link_dial_failures", "Dials toward contacts that failed")
    dials.add_metric([], counters.get("dial_failed", 0))
    reasons: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for key, value in counters.items():
        if key in ("link_resumed", "link_new_session", "dial_failed"):
            continue
        if key.startswith("link_"):
            reasons[label(key[5:])] += value
        elif key == "rate_limited" or key.startswith("handshake_"):
            reasons[label(key)] += value
        else:
            others[label(key)] += value
    for reason, value in _split(front, "rejected_").items():
        reasons["front_" + reason] += value
    rejections = _counter("gateway_link_rejections", "Refused connections and frames", ["reason"])
    for reason, value in sorted(reasons.items()):
        rejections.add_metric([reason], value)
    events = _counter("gateway_link_events", "Other link events", ["event"])
    for event, value in sorted(others.items()):
        events.add_metric([event], value)
    conns = _counter("gateway_front_connections", "Connections at the onion port", ["kind"])
    for kind in ("link", "http"):
        conns.add_metric([kind], front.get(kind, 0))
    return [opens, dials, rejections, events, conns]


def traffic_families(totals: tuple[int, int, int, int, int], payload_records: int) -> list[Metric]:
    """Bytes and records on the links, summed over every contact."""
    payload, wire, padding, cover, online = totals
    data = _counter("gateway_link_bytes", "Link bytes: payload, on the wire, padding", ["kind"])
    data.add_metric(["payload"], payload)
    data.add_metric(["wire"], wire)
    data.add_metric(["padding"], padding)
    frames = _counter("gateway_link_frames", "Records written on the links", ["kind"])
    frames.add_metric(["payload"], payload_records)
    frames.add_metric(["cover"], cover)
    peers = _gauge("gateway_peers_online", "Contacts with an open link")
    peers.add_metric([], online)
    return [data, frames, peers]


def memory_families(
    sync: Mapping[str, int], rejections: Mapping[str, int]
) -> list[CounterMetricFamily]:
    """Memory sync sessions, entries received, refusals and the store's rejections."""
    sessions = _counter("gateway_memory_sync_sessions", "Memory sync sessions", ["outcome"])
    for outcome in ("started", "completed", "failed"):
        sessions.add_metric([outcome], sync.get(f"sessions_{outcome}", 0))
    entries = _counter("gateway_memory_entries_received", "Entries stored from contacts")
    entries.add_metric([], sync.get("entries_received", 0))
    split = _counter("gateway_memory_split_views", "Split views detected (forked histories)")
    split.add_metric([], sync.get("split_views", 0))
    refused = _counter("gateway_memory_sync_refused", "Entries refused in sync", ["reason"])
    for reason, value in sorted(_split(sync, "refused_").items()):
        refused.add_metric([reason], value)
    store = _counter("gateway_memory_rejections", "Entries the store refused", ["reason"])
    for reason, value in sorted(Counter({label(k): v for k, v in rejections.items()}).items()):
        store.add_metric([reason], value)
    return [sessions, entries, split, refused, store]


def round_families(counters: Mapping[str, int], views: Iterable[Mapping[str, Any]]) -> list[Metric]:
    """Round refusals and the rounds held now, by role and status."""
    refusals = _counter("gateway_round_refusals", "Round messages refused", ["reason"])
    merged: Counter[str] = Counter()
    for key, value in counters.items():
        merged[label(key.removeprefix("refused_"))] += value
    for reason, value in sorted(merged.items()):
        refusals.add_metric([reason], value)
    held: Counter[tuple[str, str]] = Counter()
    for view in views:
        held[(label(str(view.get("role"))), label(str(view.get("status"))))] += 1
    rounds = _gauge("gateway_rounds", "Rounds held, by role and status", ["role", "status"])
    for (role, status), count in sorted(held.items()):
        rounds.add_metric([role, status], count)
    return [refusals, rounds]


def round_latency(view: Mapping[str, Any]) -> tuple[float, list[tuple[str, float]]] | None:
    """A finished round's latency and its stages' durations, from its view (None if running)."""
    stages = view.get("stages") or []
    created = view.get("created")
    if not isinstance(created, int | float) or not stages or stages[-1].get("stage") != "done":
        return None
    durations = []
    before = float(created)
    for stage in stages:
        at = float(stage["at"])
        durations.append((label(str(stage["stage"])), max(0.0, at - before)))
        before = at
    return max(0.0, before - float(created)), durations


class Histogram:
    """Observations counted into buckets, per label values (a Prometheus histogram, kept
    without the library until a scrape turns it into a family)."""

    def __init__(self, name: str, doc: str, buckets: Sequence[float], labels: Sequence[str] = ()):
        self.name, self.doc, self.labels = name, doc, tuple(labels)
        self.bounds = (*sorted(buckets), math.inf)
        #: label values -> (count in each bucket, not cumulative; sum of the values)
        self.series: dict[tuple[str, ...], tuple[list[int], float]] = {}
        if not self.labels:
            self.series[()] = ([0] * len(self.bounds), 0.0)

    def observe(self, value: float, *values: str) -> None:
        counts, total = self.series.get(values) or ([0] * len(self.bounds), 0.0)
        last = len(self.bounds) - 1  # +Inf (and NaN)
        counts[next((i for i, bound in enumerate(self.bounds) if value <= bound), last)] += 1
        self.series[values] = (counts, total + value)

    def family(self) -> HistogramMetricFamily:
        from prometheus_client.core import HistogramMetricFamily

        family = HistogramMetricFamily(self.name, self.doc, labels=list(self.labels))
        for values, (counts, total) in sorted(self.series.items()):
            running, buckets = 0, []
            for bound, count in zip(self.bounds, counts, strict=True):
                running += count
                buckets.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
            family.add_metric(list(values), buckets, sum_value=total)
        return family


# --- the node's metrics ---------------------------------------------------------------------


class NodeMetrics:
    """The node's Prometheus registry, fed by its services at scrape time."""

    def __init__(
        self,
        *,
        links: Source[LinkSource] = _none,
        front: Source[CounterSource] = _none,
        sync: Source[CounterSource] = _none,
        store: Source[RejectionSource] = _none,
        rounds: Source[RoundsSource] = _none,
        bootstrap: Source[int] = _none,
    ) -> None:
        self._registry: CollectorRegistry | None = None
        self._links, self._front, self._sync = links, front, sync
        self._store, self._rounds, self._bootstrap = store, rounds, bootstrap
        self._lock = threading.Lock()
        self._totals = _LinkTotals()
        self._pushed: Counter[tuple[str, str, str]] = Counter()
        self._bootstrap_percent: int | None = None
        self.round_latency = Histogram(
            "gateway_round_latency_seconds",
            "Time from a round's start to its end",
            ROUND_BUCKETS,
        )
        self.stage_latency = Histogram(
            "gateway_round_stage_seconds",
            "Time a round took to reach each stage from the one before",
            ROUND_BUCKETS,
            ["stage"],
        )

    # --- pushed ---------------------------------------------------------------------------

    def observe_round(self, seconds: float) -> None:
        """A round finished after ``seconds``."""
        with self._lock:
            self.round_latency.observe(max(0.0, seconds))

    def round_finished(self, view: Mapping[str, Any]) -> None:
        """A round we asked is over: observe its latency and its stages, from its view
        (pushed by the rounds service, which forgets finished rounds soon after)."""
        measured = round_latency(view)
        if measured is None:
            return
        total, stages = measured
        self.observe_round(total)
        with self._lock:
            for stage, seconds in stages:
                self.stage_latency.observe(seconds, stage)

    def on_circuit_event(self, status: str) -> None:
        """tor reported a circuit event (CIRC) with ``status`` (BUILT, FAILED, ...)."""
        status = status.upper()
        self._push("circuit", status if status in CIRCUIT_STATUSES else "other")

    def circuit_listener(self, event: object) -> None:
        """A stem event listener for CIRC events (called on stem's thread)."""
        self.on_circuit_event(str(getattr(event, "status", "other")))

    def set_bootstrap_percent(self, percent: int) -> None:
        """tor's bootstrap progress (used when no ``bootstrap`` source was given)."""
        with self._lock:
            self._bootstrap_percent = max(0, min(100, percent))

    def on_record(self, data: bytes, cover: bool) -> None:
        """A pacer tap: one record was written (cover records are counted from the links)."""
        if not cover:
            self._push("records", "payload")

    def on_channel(self, channel: str, direction: str, size: int) -> None:
        """One message of ``size`` bytes went ``direction`` (in/out) on an app channel."""
        self._push("channel_messages", label(channel), direction)
        self._push("channel_bytes", label(channel), direction, size)

    def meter_handler(self, channel: str, handler: ChannelHandler) -> ChannelHandler:
        """``handler`` for ``channel``, counting the messages in and the replies out."""

        def metered(contact: bytes, body: bytes) -> Iterable[bytes] | None:
            self.on_channel(channel, "in", len(body))
            replies = handler(contact, body)
            if replies is None:
                return None
            replies = list(replies)
            for reply in replies:
                self.on_channel(channel, "out", len(reply))
            return replies

        return metered

    def _push(self, family: str, key: str, direction: str = "", amount: int = 1) -> None:
        with self._lock:
            self._pushed[(family, key, direction)] += amount

    # --- scraped --------------------------------------------------------------------------

    def render(self) -> bytes:
        """The metrics in Prometheus text format."""
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import generate_latest

        if self._registry is None:
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(self)
        return generate_latest(self._registry)

    def collect(self) -> Iterator[Metric]:
        """Called by the registry on every scrape."""
        with self._lock:
            pushed = Counter(self._pushed)
            percent = self._bootstrap_percent
            histograms = [self.round_latency.family(), self.stage_latency.family()]
        yield from histograms
        yield from self._guarded("links", self._link_metrics, pushed)
        yield from self._guarded("memory", self._memory_metrics, pushed)
        yield from self._guarded("rounds", self._round_metrics, pushed)
        yield from self._tor_metrics(pushed, percent)
        yield from self._channel_metrics(pushed)

    def _guarded(
        self,
        name: str,
        part: Callable[[Counter[tuple[str, str, str]]], list[Metric]],
        pushed: Counter[tuple[str, str, str]],
    ) -> list[Metric]:
        try:
            return part(pushed)
        except GatewayError as exc:  # e.g. the store's database: the rest still scrapes
            log.warning("metrics: could not read the %s counters: %s", name, exc)
            return []

    def _link_metrics(self, pushed: Counter[tuple[str, str, str]]) -> list[Metric]:
        links, front = self._links(), self._front()
        counters = links.counters if links is not None else {}
        peers = links.peers() if links is not None else []
        front_counters = front.counters if front is not None else {}
        totals = self._totals.update(peers)
        records = pushed[("records", "payload", "")]
        return [*link_families(counters, front_counters), *traffic_families(totals, records)]

    def _memory_metrics(self, _: Counter[tuple[str, str, str]]) -> list[Metric]:
        sync, store = self._sync(), self._store()
        counters = sync.counters if sync is not None else {}
        rejections = store.rejection_counts() if store is not None else {}
        return list(memory_families(counters, rejections))

    def _round_metrics(self, _: Counter[tuple[str, str, str]]) -> list[Metric]:
        rounds = self._rounds()
        if rounds is None:
            return round_families({}, [])
        return round_families(rounds.counters, dict(rounds.views).values())

    def _tor_metrics(
        self, pushed: Counter[tuple[str, str, str]], percent: int | None
    ) -> list[Metric]:
        bootstrap = self._bootstrap()
        value = bootstrap if bootstrap is not None else percent
        gauge = _gauge("gateway_tor_bootstrap_percent", "tor's bootstrap progress")
        gauge.add_metric([], float(value) if value is not None else 0.0)
        circuits = _counter("gateway_tor_circuit_events", "tor circuit events", ["status"])
        for status in sorted(CIRCUIT_STATUSES | {"other"}):
            circuits.add_metric([status], pushed[("circuit", status, "")])
        return [gauge, circuits]

    def _channel_metrics(self, pushed: Counter[tuple[str, str, str]]) -> list[Metric]:
        messages = _counter(
            "gateway_channel_messages", "App channel messages", ["channel", "direction"]
        )
        sizes = _counter("gateway_channel_bytes", "App channel bytes", ["channel", "direction"])
        for (family, channel, direction), value in sorted(pushed.items()):
            if family == "channel_messages":
                messages.add_metric([channel, direction], value)
            elif family == "channel_bytes":
                sizes.add_metric([channel, direction], value)
        return [messages, sizes]


class SendMeter:
    """Wraps the link manager for a channel's sender: counts what ``send_now`` sends."""

    def __init__(self, links: Sender, metrics: NodeMetrics) -> None:
        self._links = links
        self._metrics = metrics

    def online(self) -> list[bytes]:
        return self._links.online()

    def send_now(self, contact: bytes, channel: str, body: bytes) -> bool:
        sent = self._links.send_now(contact, channel, body)
        if sent:
            self._metrics.on_channel(channel, "out", len(body))
        return sent


class MetricsRoutes:
    """``GET /metrics`` on the local API (mounted behind its token)."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(PATH, self._metrics)

    async def _metrics(self, _: web.Request) -> web.Response:
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        body = self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
