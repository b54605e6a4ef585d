"""Quality benchmark of AI convergence: single peer vs majority vote vs the council protocol.

Generated tasks with exact answers (arithmetic, multiple choice) are put to
scripted peers of accuracy p. The council runs the real asker/participant
machines in memory (gateway.converge.simulate). The strict-majority figure is
checked against the analytic binomial curve P[X >= n//2 + 1], X ~ Bin(n, p).

Latency and bytes on the Tor network are measured by the later session that
runs the core over the peer links; this script covers answer quality only.

Prints one JSON object. Example: python bench/converge.py --trials 4000
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from gateway.converge.adapters.scripted import ScriptedAdapter, ScriptedFault
from gateway.converge.simulate import run_council
from gateway.converge.synthesis import ResultStatus
from gateway.converge.tasks import Task, extract_answer, generate

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
        "not_measured_here": "latency and bytes on the Tor network (later session, over the links)",
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
    print(json.dumps(run(ap.parse_args()), indent=2))


if __name__ == "__main__":
    main()
