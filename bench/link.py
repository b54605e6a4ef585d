"""bench/link: peer links on the private Tor network, per level, against raw aiohttp.

Both sides use the real link code (handshake, ratchet, padding, pacer with the
level's cover traffic, the SQLite session store). The baseline is plain HTTP
(aiohttp) to the same onion through the same SOCKS credentials, hence the same
circuit, behind the same front door. Reported per level:

- bulk throughput (link payload bytes/s vs raw HTTP upload), target STANDARD >= 85 %
- small-message round trip (link echo vs raw GET), target STANDARD <= 1.15x
- padding overhead: bytes on the wire / payload bytes
- a k-NN classifier (record sizes and timings, leave-one-out) telling three kinds of
  traffic apart: chance (1/3) is the target at PARANOID; at HIGH its advantage over
  chance should be at most half of STANDARD's; with the bytes per second each kind
  puts on the wire (what the cover costs)

The onion side (raw HTTP server and link responder) runs in a child process with
its own event loop (``--serve``), so neither end's work delays the other's ticks;
both ends open received records only in their pacer's window after a tick.

Run: ``.venv/bin/python bench/link.py [--quick] [--testnet DIR]``; prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import stem.control
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from python_socks import ProxyType
from python_socks.async_.asyncio import Proxy

from gateway.config.levels import POLICIES
from gateway.config.schema import Level, SecurityPolicy
from gateway.link.dbstore import DbSessionStore
from gateway.link.establish import READ_SIZE, establish
from gateway.link.front import FrontDoor
from gateway.link.hello import Hello
from gateway.link.outbox import Outbox
from gateway.link.pacer import Pacer
from gateway.link.protocol import LinkConnection, LocalNode, PayloadReceived, Peer, Role
from gateway.session.session import SessionOptions
from gateway.storage.db import apply_migrations, open_db
from gateway.testnet import TestNetwork, TorClient, launch_client

ECHO, BULK, DONE = b"E", b"B", b"D"
#: traces per kind of traffic for the classifier (full run): 16 x 3 kinds = 48 samples, so
#: one misclassified sample moves the accuracy by about 0.02
SAMPLES = 16


def raw(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass
class Gate:
    identity: bytes

    def may_handshake(self, identity: bytes, static: bytes) -> bool:
        return identity == self.identity

    def admit(self, identity: bytes, static: bytes, hello: Hello) -> bool:
        return identity == self.identity


@dataclass
class Side:
    local: LocalNode
    store: DbSessionStore


def make_side(onion: str, policy: SecurityPolicy, folder: Path) -> Side:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    db = open_db(folder / "node.db")
    apply_migrations(db)
    local = LocalNode(
        Ed25519PrivateKey.generate(),
        X25519PrivateKey.generate(),
        onion,
        SessionOptions.from_policy(policy),
        policy.post_quantum,
    )
    return Side(local, DbSessionStore(db, Outbox(db)))


@dataclass
class Trace:
    """What a sender wrote to its tor: (time, size) per write, and how many were cover."""

    writes: list[tuple[float, int]] = field(default_factory=list)

    def tap(self, data: bytes, cover: bool) -> None:
        self.writes.append((time.monotonic(), len(data)))


class Responder:
    """The onion side: answers echoes, counts bulk bytes, acknowledges DONE."""

    def __init__(self, side: Side, policy: SecurityPolicy, initiator: bytes) -> None:
        self.side, self.policy, self.initiator = side, policy, initiator
        self.bulk_bytes = 0

    async def accept(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        _c: int | None,
        first: bytes,
    ) -> None:
        conn = LinkConnection(
            self.side.local, Role.RESPONDER, self.side.store, gatekeeper=Gate(self.initiator)
        )
        with contextlib.suppress(Exception):
            _, early = await establish(conn, reader, writer, first)
            pacer = Pacer(conn, writer, self.policy)
            task = asyncio.create_task(pacer.run())
            try:
                for payload in early:
                    self._on(payload, pacer)
                while data := await reader.read(READ_SIZE):
                    await pacer.receive_turn()  # opening stores the session: not on a tick
                    for event in conn.receive(data):
                        if isinstance(event, PayloadReceived):
                            self._on(event, pacer)
            finally:
                task.cancel()
                writer.close()

    def _on(self, event: PayloadReceived, pacer: Pacer) -> None:
        kind = event.data[:1]
        if kind == ECHO:
            pacer.submit(event.data)
        elif kind == DONE:
            pacer.submit(DONE)
        else:
            self.bulk_bytes += len(event.data)


class Initiator:
    """One link from the client side, over tor's SOCKS with fixed isolation credentials."""

    def __init__(self, side: Side, policy: SecurityPolicy, peer: Peer, socks: int) -> None:
        self.side, self.policy, self.peer, self.socks = side, policy, peer, socks

    async def open(
        self, trace: Trace | None = None
    ) -> tuple[Pacer, asyncio.Queue[bytes], Callable[[], None]]:
        proxy = Proxy(ProxyType.SOCKS5, "127.0.0.1", self.socks, "bench", "circuit", rdns=True)
        sock = await proxy.connect(f"{self.peer.onion}.onion", 80, timeout=90)
        reader, writer = await asyncio.open_connection(sock=sock)
        conn = LinkConnection(self.side.local, Role.INITIATOR, self.side.store, peer=self.peer)
        await establish(conn, reader, writer)
        pacer = Pacer(conn, writer, self.policy, tap=trace.tap if trace else None)
        inbox: asyncio.Queue[bytes] = asyncio.Queue()

        async def read() -> None:
            while data := await reader.read(READ_SIZE):
                await pacer.receive_turn()
                for event in conn.receive(data):
                    if isinstance(event, PayloadReceived):
                        inbox.put_nowait(event.data)

        tasks = [asyncio.create_task(pacer.run()), asyncio.create_task(read())]

        def close() -> None:
            for task in tasks:
                task.cancel()
            writer.close()

        return pacer, inbox, close


async def link_bulk(init: Initiator, total: int, chunk: int, level: Level) -> dict[str, float]:
    pacer, inbox, close = await init.open()
    try:
        started = time.monotonic()
        sent = 0
        while sent < total:
            if level is Level.PARANOID and pacer.queue_depth > 400:
                await asyncio.sleep(0.05)  # the constant-rate queue is the bottleneck
                continue
            pacer.submit(BULK + os.urandom(chunk - 1))
            sent += chunk
            await asyncio.sleep(0)
        pacer.submit(DONE)
        while await asyncio.wait_for(inbox.get(), 600) != DONE:
            pass
        took = time.monotonic() - started
        return {
            "seconds": took,
            "bytes_per_s": total / took,
            "overhead": pacer.wire_bytes / max(1, pacer.payload_bytes),
        }
    finally:
        close()


async def link_rtt(init: Initiator, n: int) -> list[float]:
    pacer, inbox, close = await init.open()
    try:
        rtts = []
        for i in range(n):
            started = time.monotonic()
            pacer.submit(ECHO + i.to_bytes(4, "big") + os.urandom(95))
            await asyncio.wait_for(inbox.get(), 60)
            rtts.append(time.monotonic() - started)
        return rtts
    finally:
        close()


def http_session(socks: int) -> object:
    from aiohttp import ClientSession, ClientTimeout
    from aiohttp_socks import ProxyConnector

    connector = ProxyConnector(
        proxy_type=ProxyType.SOCKS5, host="127.0.0.1", port=socks,
        username="bench", password="circuit", rdns=True,
    )  # fmt: skip
    return ClientSession(connector=connector, timeout=ClientTimeout(total=600))


async def raw_bulk(socks: int, onion: str, total: int) -> dict[str, float]:
    async with http_session(socks) as http:  # type: ignore[attr-defined]
        body = os.urandom(total)
        started = time.monotonic()
        async with http.post(f"http://{onion}.onion/sink", data=body) as resp:
            assert (await resp.json())["bytes"] == total
        took = time.monotonic() - started
    return {"seconds": took, "bytes_per_s": total / took}


async def raw_rtt(socks: int, onion: str, n: int) -> list[float]:
    async with http_session(socks) as http:  # type: ignore[attr-defined]
        async with http.get(f"http://{onion}.onion/echo") as resp:  # warm the circuit
            await resp.read()
        rtts = []
        for _ in range(n):
            started = time.monotonic()
            async with http.get(f"http://{onion}.onion/echo") as resp:
                await resp.read()
            rtts.append(time.monotonic() - started)
        return rtts


# --- the classifier ------------------------------------------------------------------


async def workload(kind: str, pacer: Pacer, seconds: float, rng: random.Random) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if kind == "chat":
            pacer.submit(BULK + os.urandom(rng.randint(80, 300)))
            await asyncio.sleep(rng.uniform(0.3, 1.0))
        elif kind == "sync":
            for _ in range(12):
                pacer.submit(BULK + os.urandom(2048))
            await asyncio.sleep(rng.uniform(0.8, 1.6))
        else:  # bulk
            if pacer.queue_depth < 300:
                pacer.submit(BULK + os.urandom(16384))
            await asyncio.sleep(0.02)


def features(trace: Trace, start: float, seconds: float) -> list[float]:
    writes = [(t - start, n) for t, n in trace.writes if start <= t <= start + seconds]
    sizes = [n for _, n in writes] or [0]
    times = [t for t, _ in writes]
    gaps = [b - a for a, b in itertools.pairwise(times)] or [0.0]
    return [
        len(writes),
        math.log1p(sum(sizes)),
        statistics.fmean(sizes),
        statistics.pstdev(sizes),
        statistics.fmean(gaps),
        statistics.pstdev(gaps),
        max(gaps),
    ]


def knn_accuracy(samples: list[tuple[list[float], str]], k: int = 3) -> float:
    """Leave-one-out k-NN accuracy on standardized features."""
    columns = list(zip(*(f for f, _ in samples), strict=True))
    means = [statistics.fmean(c) for c in columns]
    stds = [statistics.pstdev(c) or 1.0 for c in columns]
    norm = [([(x - m) / s for x, m, s in zip(f, means, stds, strict=True)], y) for f, y in samples]
    right = 0
    for i, (f, y) in enumerate(norm):
        dists = sorted((math.dist(f, g), z) for j, (g, z) in enumerate(norm) if j != i)
        votes = [z for _, z in dists[:k]]
        guess = max(set(votes), key=lambda z: (votes.count(z), -votes.index(z)))
        right += guess == y
    return right / len(norm)


async def classify(
    init: Initiator, per_kind: int, seconds: float
) -> tuple[float, dict[str, float]]:
    """The k-NN accuracy, and the mean bytes per second written for each kind (the cost)."""
    rng = random.Random(7)
    samples: list[tuple[list[float], str]] = []
    rates: dict[str, list[float]] = {"chat": [], "sync": [], "bulk": []}
    for _ in range(per_kind):
        for kind in ("chat", "sync", "bulk"):
            trace = Trace()
            pacer, _inbox, close = await init.open(trace)
            try:
                start = time.monotonic()
                await workload(kind, pacer, seconds, rng)
                await asyncio.sleep(0.2)
                samples.append((features(trace, start, seconds), kind))
                written = sum(n for t, n in trace.writes if start <= t <= start + seconds)
                rates[kind].append(written / seconds)
            finally:
                close()
    if os.environ.get("BENCH_LINK_DUMP"):
        with open(os.environ["BENCH_LINK_DUMP"], "a") as dump:
            dump.write(json.dumps(samples) + "\n")
    return knn_accuracy(samples), {k: statistics.fmean(v) for k, v in rates.items()}


# --- the run -------------------------------------------------------------------------


async def serve_host(args: argparse.Namespace) -> None:
    """The onion side, in its own process: raw HTTP and the responder behind one front door.

    Prints one JSON line (onion, responder keys), serves until stdin closes.
    """
    level = Level(args.serve)
    policy = POLICIES[level]
    app = web.Application(client_max_size=64 << 20)

    async def sink(request: web.Request) -> web.Response:
        return web.json_response({"bytes": len(await request.read())})

    async def echo(_: web.Request) -> web.Response:
        return web.Response(body=os.urandom(100))

    app.router.add_post("/sink", sink)
    app.router.add_get("/echo", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    side = make_side("b" * 55 + "d", policy, Path(args.folder))
    responder = Responder(side, policy, bytes.fromhex(args.initiator))
    front = FrontDoor(responder.accept, http_port, expect_proxy_line=False)
    port = await front.start()
    ctl = stem.control.Controller.from_socket_file(args.control)
    ctl.authenticate()
    service = await asyncio.to_thread(
        ctl.create_ephemeral_hidden_service, {80: f"127.0.0.1:{port}"},
        await_publication=True, timeout=90,
    )  # fmt: skip
    onion = service.service_id
    local = side.local
    side.local = LocalNode(local.identity, local.static, onion, local.options, local.post_quantum)
    hello = {
        "onion": onion,
        "identity": raw(local.identity).hex(),
        "static": raw(local.static).hex(),
    }
    print(json.dumps(hello), flush=True)
    try:
        await asyncio.to_thread(sys.stdin.read)  # until the bench closes our stdin
    finally:
        await asyncio.to_thread(ctl.remove_ephemeral_hidden_service, onion)
        ctl.close()
        await front.stop()
        await runner.cleanup()


async def start_host(
    level: Level, host: TorClient, folder: Path, initiator: bytes
) -> tuple[asyncio.subprocess.Process, Peer]:
    """Start :func:`serve_host` in a child process (its own event loop); it and the peer."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", level.value, "--control", str(host.control_socket),
        "--folder", str(folder), "--initiator", initiator.hex(),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 180)
    if not line:
        raise RuntimeError(f"the host process exited ({await proc.wait()})")
    hello = json.loads(line)
    peer = Peer(bytes.fromhex(hello["identity"]), bytes.fromhex(hello["static"]), hello["onion"])
    return proc, peer


async def stop_host(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def bench_level(
    level: Level, host: TorClient, client: TorClient, folder: Path, quick: bool
) -> dict[str, object]:
    policy = POLICIES[level]
    client_side = make_side("a" * 55 + "d", policy, folder / f"{level.value}-a")
    proc, peer = await start_host(
        level, host, folder / f"{level.value}-b", raw(client_side.local.identity)
    )
    onion = peer.onion
    init = Initiator(client_side, policy, peer, client.socks_port)
    try:
        total = (256 << 10 if quick else 4 << 20) if level is not Level.PARANOID else 48 << 10
        n_rtt = 10 if quick else 30
        raw_rtts = await raw_rtt(client.socks_port, onion, n_rtt)
        link_rtts = await link_rtt(init, n_rtt)
        raw_tp = await raw_bulk(client.socks_port, onion, total)
        link_tp = await link_bulk(init, total, 32 << 10, level)
        accuracy, rates = await classify(init, 4 if quick else SAMPLES, 2.0 if quick else 3.0)
    finally:
        await stop_host(proc)
    raw_med, link_med = statistics.median(raw_rtts), statistics.median(link_rtts)
    return {
        "bulk_bytes": total,
        "raw_bytes_per_s": round(raw_tp["bytes_per_s"]),
        "link_bytes_per_s": round(link_tp["bytes_per_s"]),
        "throughput_ratio": round(link_tp["bytes_per_s"] / raw_tp["bytes_per_s"], 3),
        "raw_rtt_ms": round(raw_med * 1000, 1),
        "link_rtt_ms": round(link_med * 1000, 1),
        "rtt_ratio": round(link_med / raw_med, 3),
        "padding_overhead": round(link_tp["overhead"], 3),
        "classifier_accuracy": round(accuracy, 3),
        "classifier_wire_kB_per_s": {k: round(v / 1000, 1) for k, v in rates.items()},
    }


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="bench-link-"))
    owned = args.testnet is None
    network = TestNetwork.create(folder / "net") if owned else TestNetwork.load(args.testnet)
    if owned:
        network.start(owner_pid=os.getpid())
    host = launch_client(network, folder / "host", owner_pid=os.getpid())
    client = launch_client(network, folder / "client", owner_pid=os.getpid())
    results: dict[str, object] = {}
    try:
        for level in args.levels:
            results[level.value] = await bench_level(level, host, client, folder, args.quick)
            print(f"{level.value}: {results[level.value]}", file=sys.stderr)
    finally:
        host.stop()
        client.stop()
        if owned:
            network.stop()
        shutil.rmtree(folder, ignore_errors=True)
    if len(args.levels) == len(Level):
        std, high, par = (results[lv.value] for lv in Level)
        assert isinstance(std, dict) and isinstance(high, dict) and isinstance(par, dict)
        chance = 1 / 3
        results["targets"] = {
            "standard_throughput_ge_0.85": std["throughput_ratio"] >= 0.85,
            "standard_rtt_le_1.15": std["rtt_ratio"] <= 1.15,
            "paranoid_classifier_at_chance": par["classifier_accuracy"] <= chance + 0.15,
            "high_advantage_halved": (high["classifier_accuracy"] - chance)
            <= (std["classifier_accuracy"] - chance) / 2,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the host process (internal)
    parser.add_argument("--control", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--initiator", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="smaller transfers and fewer traces")
    parser.add_argument("--testnet", type=Path, help="reuse a running private network")
    parser.add_argument(
        "--levels", type=Level, nargs="+", default=list(Level), help="levels to run (default all)"
    )
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_host(args))
        return
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
