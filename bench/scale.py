"""Scale on one machine: many ``gateway run`` nodes on one private Tor network.

Default mode (``--nodes 30 --degree 5 --round 9``): N STANDARD nodes with scripted AIs
are started, each paired with D others (a circulant graph: offsets 1..D//2 both ways,
plus the opposite node when D is odd, so N must be even then), and the asker (node 0)
also with enough others for a council of R. Then:

- ``rss_mb``: each node's resident memory, the Python process and its tor apart
  (VmRSS from /proc), linked and settled: after the idle window below;
  ``target_node_mb`` 60 (tor not counted). ``rss_mb_just_paired``: the same the moment the
  last pair linked (a node hands freed heap back 5 s after its last link came up);
- ``idle_cpu``: each process's CPU (utime+stime from /proc) over ``--idle`` seconds with
  nothing to do but link pings, as a percent of one core;
- memory: every node writes one entry into the shared ``default`` space at once;
  ``converge_s`` is the time until every node holds all N (entries relay along contacts
  who share the space). The baseline, measured first in the same run: ``hop_s``, the
  median time an entry written on a node takes to reach one direct contact; ``ratio`` =
  converge_s / hop_s (a graph of diameter d needs at least d hops);
- one council round of R (the asker and R-1 contacts): status, latency, stage times.

``--levels``: idle CPU at each level with ``--per-level`` nodes (a ring, each paired
with two), to show what cover traffic costs (FRONT at high, constant rate at paranoid).

``--shaping``: what HIGH's burst shaping costs against STANDARD, two nodes each: a chat
exchange (``--messages`` direct messages one after the other, each timed from
``POST /api/v1/messages`` to its arrival in the other's inbox) and a memory sync of
``--sync-mb`` MB written on one node while its contact is stopped (timed from the
contact's link coming up to holding every entry). ``ratio`` = high / standard.

Prints one JSON object (progress on stderr). Not part of the test suite.

    python bench/scale.py [--nodes 30] [--degree 5] [--round 9] [--idle 30] [--testnet DIR]
    python bench/scale.py --levels [--per-level 4]
    python bench/scale.py --shaping [--messages 20] [--sync-mb 10]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from nodes import BenchNode, pair, wait_until

from gateway.errors import GatewayError
from gateway.testnet import TestNetwork

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROUND_TIMES = {"answer": 120, "reveal": 60, "review": 120, "synthesis": 120}
TARGET_NODE_MB = 60


def log(*parts: object) -> None:
    print("scale:", *parts, file=sys.stderr, flush=True)


class ScaleNode(BenchNode):
    """A node with a scripted AI (accuracy 1.0, no fault) at ``level``."""

    def __init__(self, folder: Path, network: TestNetwork, name: str, seed: int,
                 level: str = "standard") -> None:  # fmt: skip
        ai = {
            "adapters": [{"name": "scripted", "kind": "scripted", "accuracy": 1.0,
                          "seed": seed, "fault": "none", "timeout": 10}],
            "default": "scripted",
        }  # fmt: skip
        super().__init__(folder, network, name, {"ai": ai}, level=level)

    def pids(self) -> tuple[int, list[int]]:
        """The node's Python process and its tor process(es)."""
        assert self.proc is not None
        pid = self.proc.pid
        # tor is started from a worker thread: each thread lists its own children
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]  # fmt: skip
        return pid, children


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def smaps_mb(pid: int) -> dict[str, float]:
    """PSS (shared pages split among their users) and USS (pages only this process holds)."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"pss": fields.get("Pss", 0) / 1024, "uss": uss / 1024}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def stats(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "min": round(ordered[0], 2),
        "median": round(statistics.median(ordered), 2),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "max": round(ordered[-1], 2),
    }


def memory(nodes: Sequence[ScaleNode]) -> dict[str, Any]:
    """RSS of each node's Python process and tor; PSS and USS of the Python process (RSS
    counts libpython, OpenSSL, libsodium... in full in every process that maps them)."""
    node_mb = [rss_mb(n.pids()[0]) for n in nodes]
    tor_mb = [sum(rss_mb(t) for t in n.pids()[1]) for n in nodes]
    shared = [smaps_mb(n.pids()[0]) for n in nodes]
    return {"node": stats(node_mb), "tor": stats(tor_mb),
            "node_pss": stats([m["pss"] for m in shared]),
            "node_uss": stats([m["uss"] for m in shared]),
            "target_node_mb": TARGET_NODE_MB,
            "nodes_over_target": sum(mb > TARGET_NODE_MB for mb in node_mb)}  # fmt: skip


def idle_cpu(nodes: Sequence[ScaleNode], seconds: float) -> dict[str, Any]:
    """Percent of one core per process over ``seconds`` of idling."""
    procs = {n.name: n.pids() for n in nodes}
    before = {k: (cpu_seconds(p), sum(cpu_seconds(t) for t in ts)) for k, (p, ts) in procs.items()}
    time.sleep(seconds)
    after = {k: (cpu_seconds(p), sum(cpu_seconds(t) for t in ts)) for k, (p, ts) in procs.items()}
    node = [100 * (after[k][0] - before[k][0]) / seconds for k in procs]
    tor = [100 * (after[k][1] - before[k][1]) / seconds for k in procs]
    return {"seconds": seconds, "node_pct": stats(node), "tor_pct": stats(tor),
            "total_pct_all_nodes": round(sum(node) + sum(tor), 1)}  # fmt: skip


def circulant(n: int, degree: int) -> list[tuple[int, int]]:
    """Edges of a graph on n nodes where each has ``degree`` neighbours."""
    if degree % 2 and n % 2:
        raise SystemExit("an odd --degree needs an even --nodes")
    edges = {(i, (i + k) % n) for i in range(n) for k in range(1, degree // 2 + 1)}
    if degree % 2:
        edges |= {(i, i + n // 2) for i in range(n // 2)}
    return sorted(tuple(sorted(e)) for e in edges)  # type: ignore[misc]


def parallel(jobs: Sequence[Callable[[], Any]], workers: int = 6) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return [f.result() for f in [pool.submit(job) for job in jobs]]


def entries(node: ScaleNode) -> int:
    return int(node.api("GET", "/api/v1/memory/stats")["spaces"]["default"]["entries"])


def until_entries(node: ScaleNode, count: int, timeout: float, poll: float = 0.1) -> float:
    """Wait until ``node`` holds ``count`` entries in ``default``; the time it did."""
    return wait_until(partial(at_least, node, count), timeout, f"{node.name}: {count}", poll)


def at_least(node: ScaleNode, count: int) -> bool:
    return entries(node) >= count


def published(node: ScaleNode) -> bool:
    return (node.state.parent / f"{node.name}.out").read_text().strip().endswith(".onion")


def put(node: ScaleNode, text: str) -> None:
    node.api("POST", "/api/v1/memory", {"text": text})


def hop_seconds(nodes: Sequence[ScaleNode], edges: Sequence[tuple[int, int]]) -> list[float]:
    """For a few edges: an entry written on one end, seconds until the other end holds it."""
    out = []
    for a, b in edges[:5]:
        started = time.monotonic()
        written = nodes[a].api("POST", "/api/v1/memory", {"text": f"hop {a}->{b}"})
        ended = wait_until(partial(holds, nodes[b], written["id"]), 300, f"hop {a}->{b}", 0.02)
        out.append(ended - started)
    return out


def holds(node: ScaleNode, entry_id: str) -> bool:
    try:
        node.api("GET", f"/api/v1/memory/{entry_id}")
    except GatewayError:
        return False
    return True


def council(asker: ScaleNode, contacts: Sequence[ScaleNode]) -> dict[str, Any]:
    body = {"question": "Compute 17 + 25. Reply with the integer.",
            "participants": [c.name for c in contacts], "times": ROUND_TIMES}  # fmt: skip
    started = time.monotonic()
    rid = asker.api("POST", "/api/v1/rounds", body)["round_id"]
    view: dict[str, Any] = {}

    def finished() -> bool:
        view.update(asker.api("GET", f"/api/v1/rounds/{rid}"))
        return bool(view["status"] != "running")

    ended = wait_until(finished, 900, f"round {rid[:8]}", poll=0.1)
    return {"size": len(contacts) + 1, "status": view["status"], "faults": view["faults"],
            "seconds": round(ended - started, 2)}  # fmt: skip


@contextmanager
def network_for(testnet: Path | None, folder: Path) -> Iterator[TestNetwork]:
    network = TestNetwork.load(testnet) if testnet else TestNetwork.create(folder / "net")
    try:
        if testnet is None:
            network.start(owner_pid=os.getpid())
        yield network
    finally:
        if testnet is None:
            network.stop()


def start_all(nodes: Sequence[ScaleNode]) -> float:
    started = time.monotonic()
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        try:
            wait_until(partial(published, node), 600, f"{node.name} published")
        except RuntimeError as exc:
            code = node.proc.poll() if node.proc else None
            tail = (node.state.parent / f"{node.name}.err").read_text()[-3000:]
            raise RuntimeError(f"{exc} (exit status {code}); its stderr ends:\n{tail}") from exc
    return time.monotonic() - started


def scale_run(args: argparse.Namespace, network: TestNetwork, folder: Path) -> dict[str, Any]:
    names = [f"n{i:02d}" for i in range(args.nodes)]
    nodes = [ScaleNode(folder, network, name, seed=i + 1) for i, name in enumerate(names)]
    edges = circulant(args.nodes, args.degree)
    have = {e for e in edges}
    asker_extra = [(0, j) for j in range(1, args.nodes) if (0, j) not in have]
    need = args.round - 1 - sum(1 for e in edges if 0 in e)
    edges += asker_extra[: max(0, need)]
    try:
        start_s = start_all(nodes)
        log(f"{len(nodes)} nodes published in {start_s:.1f} s")
        t0 = time.monotonic()
        parallel([partial(pair, nodes[a], nodes[b]) for a, b in edges])
        pair_s = time.monotonic() - t0
        log(f"{len(edges)} pairs linked in {pair_s:.1f} s")
        rss_paired = memory(nodes)
        log("rss just paired", json.dumps(rss_paired))
        idle = idle_cpu(nodes, args.idle)
        log("idle", json.dumps(idle))
        rss = memory(nodes)  # settled: after the idle window, as a node runs day to day
        log("rss", json.dumps(rss))
        hops = hop_seconds(nodes, edges)
        log("hops", hops)
        t0 = time.monotonic()
        parallel([partial(put, n, f"written on {n.name}") for n in nodes])
        target = len(hops) + len(nodes)  # the hops' entries and every node's write
        for node in nodes:
            until_entries(node, target, 900, poll=0.2)
        converge_s = time.monotonic() - t0
        log(f"memory converged in {converge_s:.1f} s ({target} entries each)")
        contacts_of_asker = sorted({b if a == 0 else a for a, b in edges if 0 in (a, b)})
        rnd = council(nodes[0], [nodes[i] for i in contacts_of_asker[: args.round - 1]])
        log("council", json.dumps(rnd))
        hop = statistics.median(hops)
        return {
            "nodes": args.nodes, "degree": args.degree, "pairs": len(edges),
            "start_s": round(start_s, 1), "pair_s": round(pair_s, 1),
            "rss_mb": rss, "rss_mb_just_paired": rss_paired, "idle_cpu": idle,
            "memory": {"entries_each": target, "converge_s": round(converge_s, 2),
                       "hop_s": round(hop, 2), "ratio": round(converge_s / hop, 2),
                       "writes": len(nodes)},
            "council": rnd,
        }  # fmt: skip
    finally:
        parallel([n.stop for n in nodes])


def levels_run(args: argparse.Namespace, network: TestNetwork, folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for level in ("standard", "high", "paranoid"):
        k = args.per_level
        nodes = [ScaleNode(folder, network, f"{level[0]}{i}", seed=i + 1, level=level)
                 for i in range(k)]  # fmt: skip
        try:
            start_all(nodes)
            parallel([partial(pair, nodes[i], nodes[(i + 1) % k]) for i in range(k)])
            time.sleep(5)  # let the links settle into their steady cover traffic
            out[level] = {"idle_cpu": idle_cpu(nodes, args.idle), "rss_mb": memory(nodes)}
            log(level, json.dumps(out[level]))
        finally:
            parallel([n.stop for n in nodes])
    base = out["standard"]["idle_cpu"]["node_pct"]["median"] or 0.01
    for level in out:
        node = out[level]["idle_cpu"]["node_pct"]["median"]
        out[level]["node_cpu_ratio_vs_standard"] = round(node / base, 2)
    return out


def shaping_pair(args: argparse.Namespace, network: TestNetwork, folder: Path,
                 level: str) -> dict[str, Any]:  # fmt: skip
    a = ScaleNode(folder, network, f"{level[0]}a", seed=1, level=level)
    b = ScaleNode(folder, network, f"{level[0]}b", seed=2, level=level)
    try:
        start_all([a, b])
        pair(a, b)
        latencies = []
        for i in range(args.messages):
            sender, receiver = (a, b) if i % 2 == 0 else (b, a)
            seen = len(receiver.api("GET", "/api/v1/messages")["messages"])
            started = time.monotonic()
            sender.api("POST", "/api/v1/messages", {"to": receiver.name, "text": f"msg {i}"})
            def arrived(r: ScaleNode = receiver, s: int = seen) -> bool:
                return len(r.api("GET", "/api/v1/messages")["messages"]) > s

            ended = wait_until(arrived, 120, f"message {i}", poll=0.02)
            latencies.append(ended - started)
        chat = stats(latencies)
        # the sync: stop b, write on a, start b, time from b's link up to holding everything
        b.stop()
        body = "x" * 4000
        count = max(1, int(args.sync_mb * 1_000_000 / len(body)))
        parallel([partial(put, a, f"{i} {body}") for i in range(count)], workers=4)
        want = entries(a)
        b.start()
        linked = wait_until(lambda: b.peers()[a.name]["online"], 300, "b linked", poll=0.05)
        done = until_entries(b, want, 1800)
        return {"chat_latency_s": chat, "sync": {"entries": count, "mb": round(
            count * len(body) / 1e6, 2), "seconds": round(done - linked, 2)}}  # fmt: skip
    finally:
        a.stop()
        b.stop()


def shaping_run(args: argparse.Namespace, network: TestNetwork, folder: Path) -> dict[str, Any]:
    out = {level: shaping_pair(args, network, folder, level) for level in ("standard", "high")}
    std, high = out["standard"], out["high"]
    out["ratio"] = {
        "chat_median": round(
            high["chat_latency_s"]["median"] / std["chat_latency_s"]["median"], 2
        ),
        "chat_p95": round(high["chat_latency_s"]["p95"] / std["chat_latency_s"]["p95"], 2),
        "sync": round(high["sync"]["seconds"] / std["sync"]["seconds"], 2),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=30)
    ap.add_argument("--degree", type=int, default=5)
    ap.add_argument("--round", type=int, default=9)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measure")
    ap.add_argument("--levels", action="store_true", help="idle CPU per level")
    ap.add_argument("--per-level", type=int, default=4)
    ap.add_argument("--shaping", action="store_true", help="HIGH's burst shaping vs STANDARD")
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--sync-mb", type=float, default=10.0)
    ap.add_argument("--testnet", type=Path, help="reuse a running private network")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    started = time.monotonic()
    try:
        with network_for(args.testnet, folder) as network:
            if args.levels:
                result = {"benchmark": "scale-levels", **levels_run(args, network, folder)}
            elif args.shaping:
                result = {"benchmark": "scale-shaping", **shaping_run(args, network, folder)}
            else:
                result = {"benchmark": "scale", **scale_run(args, network, folder)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["bench_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
