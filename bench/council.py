"""The cost of reaching the council from AI tools: the OpenAI-compatible endpoint and MCP's
``council_ask`` against a direct round through the REST API, on the same nodes in one run.

On a private Tor network (made here, or ``--testnet DIR``), three STANDARD ``gateway run``
nodes with scripted AIs (accuracy 1.0, no faults): the asker and two contacts, paired. Then
``--rounds`` times, in turn (so the three ways share the network's state), one round each:

- ``direct``: ``POST /api/v1/rounds`` and ``GET /api/v1/rounds/{id}/follow`` (NDJSON) until
  the round is over: the baseline, the least a client of the node can do;
- ``openai``: the ``openai`` client's ``chat.completions.create(model="council")`` against
  the node's ``/v1`` (the round, then the answer in OpenAI's shape);
- ``mcp``: the ``mcp`` SDK's client calling ``council_ask`` on ``gateway mcp`` (stdio; the
  server process is started once, before the timing) with progress notifications on.

Each is timed from the request to the answer in hand. Reported: medians, ``ratio`` =
median / median(direct) (target <= 1.05) and ``added_ms`` = median - median(direct)
(target <= 50 ms). The rounds use generous stage times: the asker closes a stage as soon
as everyone answered, so no round waits for a deadline.

    .venv/bin/python bench/council.py [--rounds 7] [--testnet DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from converge import CostNode
from nodes import pair

from gateway.api.client import endpoint_and_token
from gateway.mcp.nodeapi import NodeApi
from gateway.testnet import TestNetwork

TIMES = {"answer": 120, "reveal": 60, "review": 120, "synthesis": 120}
QUESTION = "Compute 17 + 25. Reply with the integer."
TARGET_RATIO = 1.05
TARGET_ADDED_MS = 50.0


async def direct(node: NodeApi, participants: list[str]) -> float:
    started = time.perf_counter()
    body = {"question": QUESTION, "participants": participants, "times": TIMES}
    made = await node.call("POST", "/api/v1/rounds", body)
    view: dict[str, Any] = made
    async for update in node.follow(made["round_id"]):
        view = update
    assert view["status"] in ("ok", "fallback"), view["status"]
    return time.perf_counter() - started


async def via_openai(client: Any, participants: list[str]) -> float:
    started = time.perf_counter()
    reply = await client.chat.completions.create(
        model="council",
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"participants": participants, "times": TIMES},
    )
    assert reply.choices[0].message.content
    return time.perf_counter() - started


async def via_mcp(client: Any, participants: list[str]) -> float:
    notes: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        notes.append(done)

    started = time.perf_counter()
    result = await client.call_tool(
        "council_ask",
        {"question": QUESTION, "participants": participants, "times": TIMES},
        progress_callback=progress,
    )
    elapsed = time.perf_counter() - started
    assert not result.is_error and notes, result.content
    return elapsed


async def measure(asker: CostNode, participants: list[str], rounds: int) -> dict[str, Any]:
    import openai
    from mcp import Client, StdioServerParameters

    endpoint, token = endpoint_and_token(asker.cfg)
    node = NodeApi(endpoint, token)
    oai = openai.AsyncOpenAI(base_url=endpoint + "/v1", api_key=token, timeout=600)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "gateway", "--config", str(asker.config), "mcp"]
    )
    times: dict[str, list[float]] = {"direct": [], "openai": [], "mcp": []}
    async with Client(params, read_timeout_seconds=600) as mcp:
        await direct(node, participants)  # untimed: circuits and caches warm
        for i in range(rounds):
            print(f"council: round {i + 1}/{rounds}", file=sys.stderr)
            times["direct"].append(await direct(node, participants))
            times["openai"].append(await via_openai(oai, participants))
            times["mcp"].append(await via_mcp(mcp, participants))
    await oai.close()
    base = statistics.median(times["direct"])
    out: dict[str, Any] = {"baseline_direct_s": round(base, 3)}
    for way in ("openai", "mcp"):
        med = statistics.median(times[way])
        out[way] = {
            "median_s": round(med, 3),
            "ratio": round(med / base, 3),
            "added_ms": round((med - base) * 1000, 1),
            "meets_target": med / base <= TARGET_RATIO and (med - base) * 1000 <= TARGET_ADDED_MS,
        }
    out["samples_s"] = {k: [round(v, 3) for v in vals] for k, vals in times.items()}
    return out


def run(testnet: Path | None, rounds: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-council-"))
    network = TestNetwork.load(testnet) if testnet else TestNetwork.create(folder / "net")
    nodes: list[CostNode] = []
    started = time.monotonic()
    try:
        if testnet is None:
            network.start(owner_pid=os.getpid())
        nodes = [CostNode(folder, network, name, seed=i + 1)
                 for i, name in enumerate(("asker", "p1", "p2"))]  # fmt: skip
        for n in nodes:
            n.start()
        for n in nodes[1:]:
            pair(nodes[0], n)
        result = asyncio.run(measure(nodes[0], ["p1", "p2"], rounds))
    finally:
        for n in nodes:
            n.stop()
        if testnet is None:
            network.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "benchmark": "council-endpoints",
        "level": "standard",
        "participants": 3,
        "rounds": rounds,
        "targets": {"ratio": TARGET_RATIO, "added_ms": TARGET_ADDED_MS},
        **result,
        "bench_seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--testnet", type=Path, help="reuse a running private network")
    args = ap.parse_args()
    print(json.dumps(run(args.testnet, args.rounds), indent=2))


if __name__ == "__main__":
    main()
