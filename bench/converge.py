"""Quality benchmark of AI convergence: single peer vs majority vote vs the council protocol.

Generated tasks with exact answers (arithmetic, multiple choice) are put to
scripted peers of accuracy p. The council runs the real asker/participant
machines in memory (gateway.converge.simulate). The strict-majority figure is
checked against the analytic binomial curve P[X >= n//2 + 1], X ~ Bin(n, p).

``--cost`` (a separate mode, minutes): round latency and bytes per round on a
private Tor network. Nine STANDARD ``gateway run`` nodes with scripted adapters
(accuracy 1.0, no faults, distinct seeds) are started one after the other; eight
are paired with the asker. For each size n (3, 5, 9) the asker runs R rounds with
itself and its first n-1 contacts, with generous stage times (the asker closes
a stage as soon as everyone answered, so no stage waits for its deadline):

- latency: the ``POST /api/v1/rounds`` to the view's status leaving "running"
  (``GET /api/v1/rounds/{id}`` polled every 0.1 s, so up to 0.1 s late);
  per-stage seconds come from the view's ``created`` and ``stages`` times, and
  ``latency_in_node_s`` is their sum (the asker's own clock, no polling);
- bytes: ``payload_bytes``/``wire_bytes`` of the links between the asker and the
  n-1 contacts (``GET /api/v1/peers`` on every side, both directions summed),
  after minus before the round. Link pings run all the time, so an idle window
  of the same length is measured right after and reported, plus the difference.
  The result goes to a memory space shared with no one, so no memory sync of
  the result is counted.
- baseline: the network floor for one request/response per participant per
  stage. For the round's four exchanges (round/commit, commits/reveal,
  reveals/ranking, rankings/synthesis), one wave of parallel ``GET /health``
  to each contact's onion through the asker's tor SOCKS port (as ``gateway
  ping`` does), the four waves in sequence, circuits already built by an
  untimed wave first. ``ratio`` = median round latency / median floor. The
  floor has no signatures, AI calls, Double-Ratchet, padding or outbox; the
  final broadcast after synthesis is not in it either.

Prints one JSON object. Examples: python bench/converge.py --trials 4000;
python bench/converge.py --cost [--sizes 3 5 9] [--rounds 3] [--testnet DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nodes import BenchNode, pair, wait_until

from gateway.converge.adapters.scripted import ScriptedAdapter, ScriptedFault
from gateway.converge.simulate import run_council
from gateway.converge.synthesis import ResultStatus
from gateway.converge.tasks import Task, extract_answer, generate
from gateway.testnet import TestNetwork
from gateway.tor.socks import http_session

Z95 = 1.959963984540054


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    phat = successes / n
    denom = 1 + Z95**2 / n
    centre = (phat + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(phat * (1 - phat) / n + Z95**2 / (4 * n * n)) / denom
    return (centre - half, centre + half)


def binomial_majority(n: int, p: float) -> float:
    """P[X >= n//2 + 1] for X ~ Bin(n, p)."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n // 2 + 1, n + 1))


def summary(successes: int, n: int) -> dict[str, Any]:
    lo, hi = wilson(successes, n)
    return {"accuracy": round(successes / n, 4), "ci95": [round(lo, 4), round(hi, 4)], "n": n}


def peers(
    n: int, p: float, trial: int, faults: Sequence[ScriptedFault] = ()
) -> list[ScriptedAdapter]:
    honest = [ScriptedAdapter(f"p{i}", accuracy=p, seed=trial * 1000 + i) for i in range(n)]
    bad = [
        ScriptedAdapter(f"f{i}", accuracy=p, fault=f, seed=trial * 1000 + 500 + i)
        for i, f in enumerate(faults)
    ]
    return honest + bad


def votes(task: Task, adapters: Sequence[ScriptedAdapter]) -> tuple[bool, bool, bool]:
    """(first peer right, strict majority right, plurality right) over honest beliefs."""
    beliefs = [a.belief(task.question) for a in adapters]
    counts = Counter(beliefs)
    top, top_n = counts.most_common(1)[0]
    tied = sum(1 for c in counts.values() if c == top_n) > 1
    return (
        beliefs[0] == task.answer,
        counts[task.answer] > len(beliefs) // 2,
        top == task.answer and not tied,
    )


def council_right(
    task: Task, adapters: Sequence[ScriptedAdapter], seed: int
) -> tuple[bool, int, str]:
    outcome = run_council(task.question, adapters, seed=seed)
    result = outcome.asker_result
    assert result is not None
    ok = result.status is not ResultStatus.NO_ANSWERS and extract_answer(result.text) == task.answer
    return ok, len(result.faults), result.status.value


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    tasks = [generate(rng) for _ in range(args.trials)]
    single = majority = plurality = 0
    for t, task in enumerate(tasks):
        s, m, pl = votes(task, peers(args.peers, args.p, t))
        single, majority, plurality = single + s, majority + m, plurality + pl
    analytic = binomial_majority(args.peers, args.p)
    maj = summary(majority, args.trials)

    n_c = min(args.council_trials, args.trials)
    faulty = [ScriptedFault.GARBAGE, ScriptedFault.EQUIVOCATE, ScriptedFault.TIMEOUT]
    council_ok = council_faulty_ok = faults_seen = 0
    statuses: Counter[str] = Counter()
    started = time.perf_counter()
    for t, task in enumerate(tasks[:n_c]):
        ok, _, status = council_right(task, peers(args.peers, args.p, t), seed=t)
        council_ok += ok
        statuses[status] += 1
    per_round = (time.perf_counter() - started) / max(n_c, 1)
    for t, task in enumerate(tasks[:n_c]):
        ok, nfaults, _ = council_right(task, peers(args.peers, args.p, t, faulty), seed=t)
        council_faulty_ok += ok
        faults_seen += nfaults

    single_acc = single / args.trials
    council = summary(council_ok, n_c)
    council_faulty = summary(council_faulty_ok, n_c)
    return {
        "benchmark": "converge-quality",
        "peers": args.peers,
        "p": args.p,
        "trials": args.trials,
        "seed": args.seed,
        "single_peer": summary(single, args.trials),
        "majority_vote": {
            **maj,
            "rule": f"strict majority (>= {args.peers // 2 + 1} of {args.peers} agree)",
            "analytic": round(analytic, 4),
            "analytic_in_ci": maj["ci95"][0] <= analytic <= maj["ci95"][1],
        },
        "plurality_vote": summary(plurality, args.trials),
        "council": {**council, "statuses": dict(statuses)},
        "council_with_faulty_peers": {
            **council_faulty,
            "extra_peers": [f.value for f in faulty],
            "mean_faults_recorded": round(faults_seen / max(n_c, 1), 3),
        },
        "ratio_vs_single_peer": {
            "majority_vote": round(majority / args.trials / single_acc, 3),
            "council": round(council["accuracy"] / single_acc, 3),
            "council_with_faulty_peers": round(council_faulty["accuracy"] / single_acc, 3),
        },
        "model": (
            "scripted peers answer right with probability p, independently; a wrong answer is a "
            "random near miss. Reviewers rank answers agreeing with their own belief first, then "
            "by how many answers agree; the chair restates the top Borda answer."
        ),
        "sim_seconds_per_council_round": round(per_round, 5),
        "cost": "latency and bytes per round on the private Tor network: bench/converge.py --cost",
    }


# --- cost on the private Tor network (--cost) ---------------------------------------

COST_QUESTION = "Compute {a} + {b}. Reply with the integer."
COST_STAGES = ("commit", "reveal", "review", "synthesis")
#: generous: with every participant answering, the asker closes each stage early
COST_TIMES = {"answer": 120, "reveal": 60, "review": 120, "synthesis": 120}
COST_SPACE = "bench"  # shared with no one: the result entry is not synced during the window
ROUND_TIMEOUT = 600.0
POLL = 0.1


class CostNode(BenchNode):
    """A node with a scripted adapter (accuracy 1.0, no fault)."""

    def __init__(self, folder: Path, network: TestNetwork, name: str, seed: int) -> None:
        ai = {
            "adapters": [{"name": "scripted", "kind": "scripted", "accuracy": 1.0,
                          "seed": seed, "fault": "none", "timeout": 10}],
            "default": "scripted",
        }  # fmt: skip
        memory = {"sync_interval": 3600, "spaces": {"default": "all", COST_SPACE: []}}
        super().__init__(folder, network, name, {"ai": ai, "memory": memory})

    def onion_url(self) -> str:
        onion = self.runtime().onion.removesuffix(".onion")
        return f"http://{onion}.onion:{self.cfg.onion.virtual_port}/health"

    def socks_port(self) -> int:
        port = self.runtime().socks_port
        if port is None:
            raise RuntimeError(f"{self.name} has no SOCKS port")
        return port


def link_bytes(asker: CostNode, contacts: Sequence[CostNode]) -> dict[str, int]:
    """Bytes sent on the links among the asker and ``contacts``, both directions summed."""
    mine = asker.peers()
    theirs = [c.peers()[asker.name] for c in contacts]
    sent = [mine[c.name] for c in contacts] + theirs
    return {
        "payload": sum(int(p["payload_bytes"]) for p in sent),
        "wire": sum(int(p["wire_bytes"]) for p in sent),
        "asker_payload": sum(int(mine[c.name]["payload_bytes"]) for c in contacts),
        "asker_wire": sum(int(mine[c.name]["wire_bytes"]) for c in contacts),
    }


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after}


def stage_seconds(view: dict[str, Any]) -> dict[str, float]:
    """Seconds spent in each stage, from the view's ``created`` and ``stages`` times."""
    out: dict[str, float] = {}
    name, since = "commit", float(view["created"])
    for change in view["stages"]:
        out[name] = out.get(name, 0.0) + float(change["at"]) - since
        name, since = change["stage"], float(change["at"])
    return out


def one_round(asker: CostNode, contacts: Sequence[CostNode], k: int) -> dict[str, Any]:
    """POST a round among asker + contacts; latency to leaving "running", stages, bytes."""
    body = {"question": COST_QUESTION.format(a=17 + k, b=25), "space": COST_SPACE,
            "participants": [c.name for c in contacts], "times": COST_TIMES}  # fmt: skip
    before = link_bytes(asker, contacts)
    started = time.monotonic()
    rid = asker.api("POST", "/api/v1/rounds", body)["round_id"]
    view: dict[str, Any] = {}

    def finished() -> bool:
        view.update(asker.api("GET", f"/api/v1/rounds/{rid}"))
        return bool(view["status"] != "running")

    ended = wait_until(finished, ROUND_TIMEOUT, f"round {rid[:8]}", poll=POLL)
    after = link_bytes(asker, contacts)
    if view["status"] != "ok" or view["faults"]:
        raise RuntimeError(f"round {rid[:8]} ended {view['status']}: {view['faults']}")
    stages = stage_seconds(view)
    return {"seconds": ended - started, "stages": stages, "in_node": sum(stages.values()),
            "bytes": delta(after, before)}  # fmt: skip


def idle_bytes(asker: CostNode, contacts: Sequence[CostNode], seconds: float) -> dict[str, int]:
    """What the same links carry with no round running (pings), over ``seconds``."""
    before = link_bytes(asker, contacts)
    time.sleep(seconds)
    return delta(link_bytes(asker, contacts), before)


async def ping_floor(socks_port: int, urls: Sequence[str], rounds: int) -> list[float]:
    """Per round: one parallel ``GET /health`` wave to ``urls`` per stage, waves in sequence."""
    waves: list[float] = []
    async with http_session(socks_port, timeout=120) as http:

        async def get(url: str) -> None:
            async with http.get(url) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"{url}: HTTP {resp.status}")
                await resp.read()

        async def wave() -> float:
            started = time.monotonic()
            await asyncio.gather(*(get(u) for u in urls))
            return time.monotonic() - started

        await wave()  # circuits set up (not timed): the round's links are up already
        for _ in range(rounds):
            waves.append(sum([await wave() for _ in COST_STAGES]))
    return waves


def median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 3)


def bytes_json(per_round: dict[str, float], idle: dict[str, int]) -> dict[str, Any]:
    return {
        "payload": round(per_round["payload"]),
        "wire": round(per_round["wire"]),
        "asker_sent_payload": round(per_round["asker_payload"]),
        "asker_sent_wire": round(per_round["asker_wire"]),
        "idle_same_duration": {"payload": idle["payload"], "wire": idle["wire"]},
        "payload_minus_idle": round(per_round["payload"] - idle["payload"]),
        "wire_minus_idle": round(per_round["wire"] - idle["wire"]),
    }


def cost_size(asker: CostNode, contacts: Sequence[CostNode], rounds: int) -> dict[str, Any]:
    runs = [one_round(asker, contacts, k) for k in range(rounds)]
    latency = statistics.median(r["seconds"] for r in runs)
    idle = idle_bytes(asker, contacts, latency)
    per_round = {k: statistics.median(r["bytes"][k] for r in runs) for k in runs[0]["bytes"]}
    urls = [c.onion_url() for c in contacts]
    floor = asyncio.run(ping_floor(asker.socks_port(), urls, rounds))
    base = statistics.median(floor)
    return {
        "participants": len(contacts) + 1,
        "rounds": rounds,
        "latency_s": round(latency, 3),
        "latency_all_s": [round(r["seconds"], 3) for r in runs],
        "latency_in_node_s": median([r["in_node"] for r in runs]),
        "stage_s": {s: median([r["stages"].get(s, 0.0) for r in runs]) for s in COST_STAGES},
        "bytes_per_round": bytes_json(per_round, idle),
        "baseline_ping_floor_s": round(base, 3),
        "baseline_all_s": [round(w, 3) for w in floor],
        "ratio": round(latency / base, 2),
    }


def cost_run(network: TestNetwork, folder: Path, sizes: Sequence[int], rounds: int) -> Any:
    names = ["asker"] + [f"p{i}" for i in range(1, max(sizes))]
    nodes = [CostNode(folder, network, name, seed=i + 1) for i, name in enumerate(names)]
    asker, contacts = nodes[0], nodes[1:]
    try:
        for node in nodes:
            node.start()
            print(f"cost: {node.name} published", file=sys.stderr)
        for node in contacts:
            pair(asker, node)
            print(f"cost: {node.name} paired", file=sys.stderr)
        results = []
        for n in sizes:
            results.append(cost_size(asker, contacts[: n - 1], rounds))
            print(f"cost: n={n} {json.dumps(results[-1])}", file=sys.stderr)
        return results
    finally:
        for node in nodes:
            node.stop()


def cost(testnet: Path | None, sizes: Sequence[int], rounds: int) -> dict[str, Any]:
    """Round latency and bytes for each size, against a ping floor measured in the run."""
    if min(sizes) < 2 or rounds < 1:
        raise SystemExit("--sizes must be at least 2 and --rounds at least 1")
    folder = Path(tempfile.mkdtemp(prefix="bench-converge-"))
    network = TestNetwork.load(testnet) if testnet else TestNetwork.create(folder / "net")
    started = time.monotonic()
    try:
        if testnet is None:
            network.start(owner_pid=os.getpid())
        sizes_out = cost_run(network, folder, sizes, rounds)
    finally:
        if testnet is None:
            network.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "benchmark": "converge-cost",
        "level": "standard",
        "stage_times_s": COST_TIMES,
        "sizes": sizes_out,
        "bench_seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4000, help="tasks for single and majority")
    ap.add_argument(
        "--council-trials", type=int, default=1000, help="tasks run through the council"
    )
    ap.add_argument("--peers", type=int, default=5)
    ap.add_argument("-p", "--p", type=float, default=0.6, help="accuracy of each peer")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cost", action="store_true", help="only the cost run on a Tor network")
    ap.add_argument("--sizes", type=int, nargs="+", default=[3, 5, 9], help="--cost: sizes")
    ap.add_argument("--rounds", type=int, default=3, help="--cost: rounds per size")
    ap.add_argument("--testnet", type=Path, help="--cost: reuse a running private network")
    args = ap.parse_args()
    if args.cost:
        print(json.dumps(cost(args.testnet, args.sizes, args.rounds), indent=2))
        return
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
