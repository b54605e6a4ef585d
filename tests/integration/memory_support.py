"""Helpers for the memory integration tests: nodes with memory config, pairing, counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ApiError
from gateway.testnet import TestNetwork
from tests.integration.support import Node, api, gateway_cli, make_node, peer, wait_for


def memory_node(
    tmp_path: Path, testnet: TestNetwork, name: str, spaces: dict[str, Any] | None = None
) -> Path:
    """A STANDARD node with a short sync interval and the given ``memory.spaces``."""
    config = make_node(tmp_path, testnet, name=name)
    data = yaml.safe_load(config.read_text())
    data["memory"] = {"sync_interval": 5, "spaces": spaces or {"default": "all"}}
    config.write_text(yaml.safe_dump(data))
    return config


def start(config: Path, started: list[Node]) -> Node:
    node = Node(config)
    started.append(node)
    node.next_address()
    return node


def pair_as(inviter: Path, invitee: Path, inviter_calls: str, invitee_calls: str) -> None:
    """Pair two running nodes, each naming the other; returns once both see the link."""
    invite = json.loads(
        gateway_cli(inviter, "invite", "--json", "--no-qr", "--label", inviter_calls)
    )["invite"]
    gateway_cli(invitee, "contacts", "add", invite, "--nickname", invitee_calls)
    for config, name in ((invitee, invitee_calls), (inviter, inviter_calls)):
        wait_for(
            lambda c=config, n=name: peer(c, n)["state"] == "paired" and peer(c, n)["online"],
            180,
            f"{config.stem} paired with {name} and online",
        )


def put(config: Path, text: str, **fields: Any) -> dict[str, Any]:
    reply: dict[str, Any] = api(config, "POST", "/api/v1/memory", {"text": text, **fields})
    return reply


def stats(config: Path) -> dict[str, Any]:
    reply: dict[str, Any] = api(config, "GET", "/api/v1/memory/stats")
    return reply


def count(config: Path, space: str = "default") -> int:
    spaces = stats(config)["spaces"]
    return int(spaces[space]["entries"]) if space in spaces else 0


def has(config: Path, entry_id: str) -> bool:
    try:
        api(config, "GET", f"/api/v1/memory/{entry_id}")
    except ApiError as exc:
        if exc.code == "not_found":
            return False
        raise
    return True


def verify(config: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(gateway_cli(config, "memory", "verify", "--json"))
    return report


def ids(config: Path, space: str = "default", limit: int = 1000) -> set[str]:
    entries = api(config, "GET", f"/api/v1/memory?space={space}&limit={limit}")["entries"]
    return {e["id"] for e in entries}


def metrics(config: Path) -> dict[str, float]:
    """The node's /metrics (through its API, with the token), as {sample with labels: value}."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    from gateway.config.loader import load_config
    from gateway.node.runtime_file import read_runtime
    from gateway.state.keys import load_api_token
    from gateway.state.paths import StatePaths

    paths = StatePaths(load_config(config).node.state_dir)
    request = urllib.request.Request(
        read_runtime(paths).api + "/metrics",
        headers={"Authorization": f"Bearer {load_api_token(paths)}"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out
