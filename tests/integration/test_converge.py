"""Convergence rounds across five nodes on the private Tor network (scripted adapters).

A asks; B answers honestly; C's AI times out, D sends garbage and E equivocates.
The council space is shared by A with B..E and by each of them with A only. F is
a contact of B but not of A: it can neither join nor read A's rounds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.testnet import TestNetwork
from tests.integration.memory_support import has, memory_node, metrics, pair_as, start
from tests.integration.support import Node, api, gateway_cli, wait_for

QUESTION = "Compute 17 + 25. Reply with the integer."
TIMES = ("--answer-time", "20", "--reveal-time", "10", "--review-time", "20",
         "--synthesis-time", "20")  # fmt: skip
FAULTS = {"b": "none", "c": "timeout", "d": "garbage", "e": "equivocate"}
NAMES = {"a": "alice", "b": "bob", "c": "carol", "d": "dave", "e": "erin", "f": "frank"}


def with_ai(config: Path, fault: str | None, council: list[str] | None) -> Path:
    data = yaml.safe_load(config.read_text())
    if fault is not None:
        data["ai"] = {
            "adapters": [{"name": "scripted", "kind": "scripted", "accuracy": 1.0,
                          "fault": fault, "timeout": 5}],
            "default": "scripted",
        }  # fmt: skip
    if council is not None:
        data["memory"]["spaces"]["council"] = council
    config.write_text(yaml.safe_dump(data))
    return config


@dataclass
class Council:
    nodes: dict[str, Path]
    started: list[Node]


@pytest.fixture(scope="module")
def council(tmp_path_factory: pytest.TempPathFactory, testnet: TestNetwork) -> Iterator[Council]:
    folder = tmp_path_factory.mktemp("converge")
    nodes = {"a": with_ai(memory_node(folder, testnet, "a"), "none", [NAMES[n] for n in "bcde"])}
    for name, fault in FAULTS.items():
        nodes[name] = with_ai(memory_node(folder, testnet, name), fault, ["alice"])
    nodes["f"] = with_ai(memory_node(folder, testnet, "f"), "none", None)
    started: list[Node] = []
    try:
        for config in nodes.values():
            start(config, started)
        for name in "bcde":
            pair_as(nodes["a"], nodes[name], NAMES[name], "alice")
        pair_as(nodes["b"], nodes["f"], "frank", "bob")
        yield Council(nodes, started)
    finally:
        for node in started:
            if node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait()


def converge(config: Path, *args: str) -> tuple[dict[str, Any], str]:
    """Run a round with the CLI twice over: once as text (progress), then show it as JSON."""
    text = gateway_cli(config, "converge", QUESTION, *TIMES, *args, timeout=240)
    rounds = json.loads(gateway_cli(config, "rounds", "list", "--json"))
    view = json.loads(gateway_cli(config, "rounds", "show", rounds[0]["round_id"], "--json"))
    return view, text


def test_a_round_with_faulty_peers_completes_and_records_each_fault(council: Council) -> None:
    n = council.nodes
    view, text = converge(n["a"], "--space", "council")
    assert view["status"] == "ok", view
    assert "42" in view["result"]["text"]
    ranked = view["result"]["ranked"]
    assert ranked and all(item["answer"] for item in ranked)
    faults = {(f["name"], f["kind"]) for f in view["faults"]}
    assert ("carol", "timeout") in faults, faults
    assert ("dave", "garbage") in faults, faults
    assert ("erin", "equivocation") in faults, faults
    assert "bob" not in {name for name, _ in faults}  # the honest peer has no fault
    # the CLI showed progress per stage and per peer, then the answer and rankings
    for line in ("stage: review", "stage: done", "final answer", "ranked answers", "fault: carol"):
        assert line in text, text
    # the signed result is a memory entry in the council space, synced to every participant
    entry = view["memory_entry"]
    for name in "bcde":
        wait_for(lambda c=n[name]: has(c, entry), 180, f"the result in {name}'s memory")
    got = api(n["b"], "GET", f"/api/v1/memory/{entry}")
    assert got["space"] == "council" and got["metadata"]["round_id"] == view["round_id"]
    # participants keep their own view of the round
    b_rounds = json.loads(gateway_cli(n["b"], "rounds", "list", "--json"))
    assert [r["round_id"] for r in b_rounds] == [view["round_id"]]
    assert b_rounds[0]["role"] == "participant" and b_rounds[0]["status"] == "ok"
    # the asker's Prometheus metrics saw the round, its links, their padding and tor
    seen = metrics(n["a"])
    assert seen["gateway_round_latency_seconds_count"] >= 1
    assert seen["gateway_link_bytes_total{kind=payload}"] > 0
    assert seen["gateway_link_bytes_total{kind=padding}"] > 0
    assert seen["gateway_channel_messages_total{channel=converge,direction=in}"] > 0
    assert seen["gateway_peers_online"] == 4 and seen["gateway_tor_bootstrap_percent"] == 100


def test_a_non_contact_cannot_join_or_read_a_round(council: Council) -> None:
    n = council.nodes
    view, _ = converge(n["a"], "--space", "council", "--with", "bob")
    assert view["status"] == "ok"
    ids = {p["id"] for p in view["participants"]}
    assert len(ids) == 2  # alice herself and bob; frank cannot be named
    # frank is bob's contact, but he never hears of alice's rounds nor gets their results
    api(n["b"], "POST", "/api/v1/memory/sync?timeout=60")
    assert json.loads(gateway_cli(n["f"], "rounds", "list", "--json")) == []
    assert not has(n["f"], view["memory_entry"])
    # asking frank by name fails on alice's side: he is not her contact
    with pytest.raises(AssertionError, match="no contact"):
        gateway_cli(n["a"], "converge", QUESTION, "--with", "frank", "--no-wait")


def _openai_client(config: Path) -> Any:
    """The ``openai`` client pointed at the node's local API (its token as the API key)."""
    import openai

    from gateway.config.loader import load_config
    from gateway.node.runtime_file import read_runtime
    from gateway.state.keys import load_api_token
    from gateway.state.paths import StatePaths

    paths = StatePaths(load_config(config).node.state_dir)
    endpoint = read_runtime(paths).api
    assert endpoint.startswith("http://127.0.0.1:")  # loopback only
    return openai.OpenAI(base_url=endpoint + "/v1", api_key=load_api_token(paths), timeout=240)


OPENAI_TIMES = {"answer": 20, "reveal": 10, "review": 20, "synthesis": 20}


def test_the_openai_client_gets_the_council_as_a_model(council: Council) -> None:
    """Any OpenAI client pointed at the node gets a real round over Tor as the model
    ``council``: the answer is the round's synthesis, streamed with its stages or not."""
    import openai

    client = _openai_client(council.nodes["a"])
    assert [m.id for m in client.models.list().data] == ["council"]
    reply = client.chat.completions.create(
        model="council",
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"participants": ["bob"], "times": OPENAI_TIMES},
    )
    rounds = api(council.nodes["a"], "GET", "/api/v1/rounds")["rounds"]
    view = api(council.nodes["a"], "GET", f"/api/v1/rounds/{rounds[0]['round_id']}")
    assert reply.id == f"chatcmpl-{view['round_id']}" and view["status"] == "ok"
    assert reply.choices[0].message.content == view["result"]["text"]
    assert "42" in view["result"]["text"]
    authors = {r["author"]["name"] for r in view["result"]["ranked"] if r["author"]}
    assert "bob" in authors

    stream = client.chat.completions.create(
        model="council",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        extra_body={"participants": ["bob"], "times": OPENAI_TIMES},
    )
    chunks = list(stream)
    stages = [c.model_extra["gateway"]["stage"] for c in chunks if c.model_extra.get("gateway")]
    assert stages[0] == "commit" and {"reveal", "synthesis"} <= set(stages)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "42" in text and chunks[-1].choices[0].finish_reason == "stop"

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    stranger = openai.OpenAI(base_url=str(client.base_url), api_key="not-the-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()

    # the same rounds and their results, read through GraphQL
    query = ("{ rounds(limit: 5) { id status synthesis ranked { author answer } } "
             "memory(limit: 5) { id topic body } }")  # fmt: skip
    data = api(council.nodes["a"], "POST", "/graphql", {"query": query})["data"]
    shown = {r["id"]: r for r in data["rounds"]}
    assert shown[view["round_id"]]["synthesis"] == view["result"]["text"]
    assert "bob" in {a["author"] for a in shown[view["round_id"]]["ranked"]}
    assert view["memory_entry"] in {e["id"] for e in data["memory"]}


def test_a_participant_answers_through_the_anthropic_adapter(
    council: Council, tmp_path_factory: pytest.TempPathFactory, testnet: TestNetwork
) -> None:
    """A node whose AI is ``kind: anthropic`` (pointed at a server on 127.0.0.1 that speaks
    the Messages API) takes part in a real round over Tor: the server gets the API's request
    with the key from the node's environment, and the node's answer is the server's text."""
    import os
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, dict[str, str], dict[str, Any]]] = []
    text = "ANSWER: 42 (from the Messages API on loopback)"

    class Messages(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, dict(self.headers), body))
            reply = json.dumps({"type": "message", "role": "assistant",
                                "content": [{"type": "text", "text": text}],
                                "stop_reason": "end_turn"}).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Messages)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    folder = tmp_path_factory.mktemp("anthropic")
    config = memory_node(folder, testnet, "g")
    data = yaml.safe_load(config.read_text())
    data["ai"] = {"adapters": [{"name": "claude", "kind": "anthropic", "model": "claude-test",
                                "base_url": f"http://127.0.0.1:{http.server_port}",
                                "api_key_env": "GW_TEST_ANTHROPIC_KEY", "timeout": 10}],
                  "default": "claude"}  # fmt: skip
    data["memory"]["spaces"]["council"] = ["alice"]
    config.write_text(yaml.safe_dump(data))
    os.environ["GW_TEST_ANTHROPIC_KEY"] = "sk-ant-test"  # the node's process inherits it
    try:
        start(config, council.started)
        pair_as(council.nodes["a"], config, "grace", "alice")
        view, _ = converge(council.nodes["a"], "--with", "grace")
    finally:
        os.environ.pop("GW_TEST_ANTHROPIC_KEY", None)
        http.shutdown()
    assert seen, "the Anthropic adapter never called the server"
    path, headers, body = seen[0]
    assert path == "/v1/messages" and headers["x-api-key"] == "sk-ant-test"
    assert headers["anthropic-version"] == "2023-06-01" and body["model"] == "claude-test"
    assert body["messages"][0]["role"] == "user" and body["max_tokens"] == 1024
    answers = {r["author"]["name"]: r["answer"] for r in view["result"]["ranked"] if r["author"]}
    assert answers.get("grace") == text, view["result"]


FACT = "The code name of the Lisbon project is HERON-7."
RECALL = "What is the code name of the Lisbon project?"
QUICK = {"answer": 20, "reveal": 10, "review": 20, "synthesis": 20}


def ask_round(config: Path, participants: list[str], context: str) -> dict[str, Any]:
    """Start a round through the API and wait for its final view."""
    body = {"question": RECALL, "participants": participants, "space": "council",
            "context": context, "times": QUICK}  # fmt: skip
    rid = api(config, "POST", "/api/v1/rounds", body)["round_id"]
    view: dict[str, Any] = {}

    def over() -> bool:
        view.update(api(config, "GET", f"/api/v1/rounds/{rid}"))
        return view["status"] not in ("running", "pending")

    wait_for(over, 200, "the round to end")
    return view


def test_a_round_answers_from_memory_with_context_and_not_without(council: Council) -> None:
    """Scripted AIs answer from their prompt: the fact is only in memory, so only a round
    that carries it as context gets it right."""
    a = council.nodes["a"]
    fact = api(a, "POST", "/api/v1/memory", {"text": FACT, "space": "council"})["id"]
    cold = ask_round(a, [], "none")  # alice's own AI alone, no context
    assert cold["status"] == "ok", cold
    assert "HERON-7" not in (cold["result"]["text"] or "") and cold["context"] == []
    warm = ask_round(a, [], "auto")
    assert warm["status"] == "ok", warm
    assert "HERON-7" in warm["result"]["text"]
    assert warm["question"] == RECALL
    assert [(c["source"], c["entry"]) for c in warm["context"]][:1] == [("the asker", fact)]


def test_a_participant_adds_context_from_memory_it_shares_with_the_asker(
    council: Council,
) -> None:
    a, b = council.nodes["a"], council.nodes["b"]
    fact = api(a, "POST", "/api/v1/memory", {"text": FACT, "space": "council"})["id"]
    wait_for(lambda: has(b, fact), 180, "bob to receive the fact")
    view = ask_round(a, ["bob"], "none")  # the asker sends no context; bob adds his own
    answers = {r["author"]["name"]: r["answer"] for r in view["result"]["ranked"]}
    assert "HERON-7" in (answers.get("bob") or ""), answers
    assert "HERON-7" not in (answers.get("(this node)") or ""), answers
