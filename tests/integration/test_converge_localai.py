"""A real model, end to end: three nodes on the private Tor network, each with its own
``openai`` adapter pointed at llama.cpp's server on the bundled SmolLM2 model, complete
a convergence round.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from gateway.converge.localai import MODEL_ALIAS, LocalAIServer
from gateway.testnet import TestNetwork
from tests.integration.memory_support import has, memory_node, pair_as, start
from tests.integration.support import Node, gateway_cli, wait_for

QUESTION = "What is the capital of France? Answer in one short sentence."


def with_local_ai(config: Path, server: LocalAIServer) -> Path:
    data = yaml.safe_load(config.read_text())
    data["ai"] = {
        "adapters": [
            {
                "name": "smollm2",
                "kind": "openai",
                "base_url": server.base_url,
                "model": MODEL_ALIAS,
                "max_tokens": 96,
                "temperature": 0.0,
                "timeout": 150,
            }
        ],
        "default": "smollm2",
    }
    config.write_text(yaml.safe_dump(data))
    return config


def test_three_nodes_with_a_real_local_model_complete_a_round(
    tmp_path: Path, testnet: TestNetwork, nodes: list[Node], local_ai: LocalAIServer
) -> None:
    configs = {n: with_local_ai(memory_node(tmp_path, testnet, n), local_ai) for n in "abc"}
    for config in configs.values():
        start(config, nodes)
    pair_as(configs["a"], configs["b"], "bob", "alice")
    pair_as(configs["a"], configs["c"], "carol", "alice")
    times = ("--answer-time", "200", "--reveal-time", "30", "--review-time", "200",
             "--synthesis-time", "200")  # fmt: skip
    out = gateway_cli(configs["a"], "converge", QUESTION, *times, "--json", timeout=900)
    view = json.loads(out)
    assert view["status"] in ("ok", "fallback"), view
    assert view["result"]["text"].strip(), view
    assert len(view["participants"]) == 3
    answered = [item for item in view["result"]["ranked"] if item["answer"]]
    assert len(answered) >= 2, view["result"]  # the model answered on at least two nodes
    print(f"\nround {view['status']}: {view['result']['text'][:200]!r}")
    entry = view["memory_entry"]
    for name in "bc":
        wait_for(lambda c=configs[name]: has(c, entry), 180, f"the result on {name}")
