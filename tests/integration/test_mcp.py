"""``gateway mcp`` over real nodes on the private Tor network (scripted AIs).

Alice, bob and carol run as ``gateway run`` subprocesses, paired alice-bob and alice-carol.
An AI tool's MCP client (the ``mcp`` SDK's) starts ``gateway mcp --config <alice's config>``
as Claude Desktop does (a subprocess on stdio) or talks to ``gateway mcp --http`` with the
API token: memory goes in and out (and syncs to bob over Tor), ``council_ask`` runs a real
round among the three with progress at each stage, and cancelling it cancels the round.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from gateway.testnet import TestNetwork
from tests.integration.memory_support import has, memory_node, pair_as, start
from tests.integration.support import Node, api, wait_for
from tests.integration.test_converge import with_ai

QUESTION = "Compute 17 + 25. Reply with the integer."
TIMES = {"answer": 20, "reveal": 10, "review": 20, "synthesis": 20}
SLOW = {"answer": 300, "reveal": 300, "review": 300, "synthesis": 300}
#: the longest one MCP request may take (a round closes its stages early when all acted)
READ_TIMEOUT = 240.0


@dataclass
class Trio:
    alice: Path
    bob: Path
    carol: Path


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory, testnet: TestNetwork) -> Iterator[Trio]:
    folder = tmp_path_factory.mktemp("mcp")
    configs = Trio(*(with_ai(memory_node(folder, testnet, n), "none", None) for n in "abc"))
    started: list[Node] = []
    try:
        for config in (configs.alice, configs.bob, configs.carol):
            start(config, started)
        pair_as(configs.alice, configs.bob, "bob", "alice")
        pair_as(configs.alice, configs.carol, "carol", "alice")
        yield configs
    finally:
        for node in started:
            if node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait()
            print(f"--- {node.config.stem}: last log lines", *node.stderr[-40:], sep="\n")


def stdio_params(config: Path) -> StdioServerParameters:
    """``gateway mcp --config CONFIG``: what a desktop client's config starts."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", "gateway", "mcp", "--config", str(config)]
    )


def data(result: Any) -> Any:
    """A successful tool result's JSON."""
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


def error_text(result: Any) -> str:
    assert result.is_error, result.content
    return str(result.content[0].text)


class Progress:
    """The progress notifications of one request."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []
        self.first = asyncio.Event()

    async def __call__(self, done: float, total: float | None, message: str | None) -> None:
        self.seen.append((done, total, message))
        self.first.set()


@contextlib.asynccontextmanager
async def stdio_session(config: Path) -> AsyncIterator[ClientSession]:
    """A client session with ``gateway mcp --config CONFIG``, started on stdio.

    (Entered and left inside each test: the SDK's task groups must end in the task that
    started them.)
    """
    async with (
        stdio_client(stdio_params(config)) as (read, write),
        ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as client,
    ):
        await client.initialize()
        yield client


async def node_api(config: Path, method: str, path: str) -> Any:
    """One request to the node's local API (the CLI's client runs its own event loop)."""
    return await asyncio.to_thread(api, config, method, path)


def api_token(config: Path) -> str:
    from gateway.config.loader import load_config
    from gateway.state.keys import load_api_token
    from gateway.state.paths import StatePaths

    return load_api_token(StatePaths(load_config(config).node.state_dir))


async def test_memory_tools_and_resources_over_stdio(trio: Trio) -> None:
    async with stdio_session(trio.alice) as session:
        await _memory_tools_and_resources(session, trio)


async def _memory_tools_and_resources(session: ClientSession, trio: Trio) -> None:
    tools = {t.name for t in (await session.list_tools()).tools}
    assert tools == {"memory_search", "memory_put", "memory_get", "memory_list_recent",
                     "council_ask", "contacts_status", "circle_status", "circle_propose",
                     "circle_log"}  # fmt: skip
    put = data(await session.call_tool("memory_put", {
        "text": "the kingfisher came back to the weir", "topic": "birds", "tags": ["river"],
    }))  # fmt: skip
    entry = put["id"]
    assert data(await session.call_tool("memory_get", {"id": entry[:12]}))["id"] == entry
    found = data(await session.call_tool("memory_search", {"query": "kingfisher"}))["entries"]
    assert [e["id"] for e in found] == [entry]
    assert data(await session.call_tool(
        "memory_search", {"query": "kingfisher", "topic": "birds", "tags": ["river"]}
    ))["entries"]  # fmt: skip
    assert data(await session.call_tool(
        "memory_search", {"query": "kingfisher", "tags": ["desert"]}
    ))["entries"] == []  # fmt: skip
    recent = data(await session.call_tool("memory_list_recent", {"limit": 5}))["entries"]
    assert entry in [e["id"] for e in recent]
    listed = await session.read_resource("gateway://memory/recent")
    assert entry in listed.contents[0].text
    one = await session.read_resource(f"gateway://memory/{entry}")
    assert json.loads(one.contents[0].text)["body"] == "the kingfisher came back to the weir"
    # signed by alice's node and synced to her contact over Tor
    await asyncio.to_thread(
        wait_for, lambda: has(trio.bob, entry), 180, "the MCP-written entry in bob's memory"
    )
    peers = data(await session.call_tool("contacts_status", {}))["peers"]
    assert {p["nickname"]: (p["state"], p["online"]) for p in peers} == {
        "bob": ("paired", True), "carol": ("paired", True)
    }  # fmt: skip
    # bad arguments are tool errors naming what was wrong; the server stays up
    assert "not_found" in error_text(
        await session.call_tool("memory_get", {"id": "0123456789abcdef"})
    )
    assert "nobody" in error_text(
        await session.call_tool("council_ask", {"question": QUESTION, "participants": ["nobody"]})
    )
    assert "limit" in error_text(
        await session.call_tool("memory_search", {"query": "x", "limit": 0})
    )
    assert "text" in error_text(await session.call_tool("memory_put", {"text": 42}))
    assert not (await session.call_tool("contacts_status", {})).is_error


async def test_council_ask_over_stdio_runs_a_round_with_progress(trio: Trio) -> None:
    async with stdio_session(trio.alice) as session:
        await _council_ask(session, trio)


async def _council_ask(session: ClientSession, trio: Trio) -> None:
    progress = Progress()
    summary = data(await session.call_tool(
        "council_ask", {"question": QUESTION, "times": TIMES}, progress_callback=progress
    ))  # fmt: skip
    assert summary["status"] == "ok" and "42" in summary["synthesis"], summary
    assert {r["author"] for r in summary["ranked"]} >= {"bob", "carol"}
    assert all(r["answer"] for r in summary["ranked"]) and summary["faults"] == []
    # progress at each stage: 0 (commit) .. 4 (done) of 4
    steps = [done for done, _, _ in progress.seen]
    assert len(steps) > 0 and steps == sorted(steps) and steps[-1] == 4, progress.seen
    assert all(total == 4 for _, total, _ in progress.seen)
    # the result is the node's round, and a memory entry synced to the participants
    rid = summary["round_id"]
    view = await node_api(trio.alice, "GET", f"/api/v1/rounds/{rid}")
    assert view["status"] == "ok" and view["result"]["text"] == summary["synthesis"]
    shown = await session.read_resource(f"gateway://rounds/{rid}")
    assert json.loads(shown.contents[0].text)["result"]["text"] == summary["synthesis"]
    recent = await session.read_resource("gateway://rounds/recent")
    assert rid in [r["round_id"] for r in json.loads(recent.contents[0].text)["rounds"]]
    stored = data(await session.call_tool("memory_get", {"id": summary["memory_entry"]}))
    assert stored["metadata"]["round_id"] == rid
    await asyncio.to_thread(
        wait_for, lambda: has(trio.carol, summary["memory_entry"]), 180, "the result at carol"
    )


@pytest.fixture
async def http_url(trio: Trio) -> AsyncIterator[str]:
    """``gateway mcp --config <alice> --http`` on a free loopback port; its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "mcp", "--config", str(trio.alice), "--http"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        url = line.split()[0] if line else ""
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp"), line
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


async def test_streamable_http_with_the_token_and_401_without(
    http_url: str, trio: Trio
) -> None:
    headers = {"Authorization": f"Bearer {api_token(trio.alice)}"}
    progress = Progress()
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(http_url, http_client=http) as (read, write),
        ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as client,
    ):
        await client.initialize()
        peers = data(await client.call_tool("contacts_status", {}))["peers"]
        assert {p["nickname"] for p in peers} == {"bob", "carol"}
        summary = data(await client.call_tool(
            "council_ask", {"question": QUESTION, "participants": ["bob"], "times": TIMES},
            progress_callback=progress,
        ))  # fmt: skip
        assert summary["status"] == "ok" and "42" in summary["synthesis"], summary
        assert "bob" in {r["author"] for r in summary["ranked"]}
        assert "carol" not in {r["author"] for r in summary["ranked"]}
    assert len(progress.seen) > 0 and progress.seen[-1][0] == 4, progress.seen
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for offered in ({}, {"Authorization": "Bearer not-the-token"}):
        async with create_mcp_http_client(headers=offered) as stranger:
            resp = await stranger.post(http_url, json=request)
            assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"


async def test_cancelling_council_ask_cancels_the_round(trio: Trio) -> None:
    """The MCP client gives up on council_ask (notifications/cancelled): the server stops
    following and alice's node cancels the round on its side."""
    async with stdio_session(trio.alice) as session:
        await _cancel(session, trio)


async def _cancel(session: ClientSession, trio: Trio) -> None:
    rounds_before = (await node_api(trio.alice, "GET", "/api/v1/rounds"))["rounds"]
    before = {r["round_id"] for r in rounds_before}
    progress = Progress()
    call = asyncio.ensure_future(session.call_tool(
        "council_ask", {"question": QUESTION, "times": SLOW}, progress_callback=progress
    ))  # fmt: skip
    await asyncio.wait_for(progress.first.wait(), 60)  # the round runs: its first stage
    rounds = (await node_api(trio.alice, "GET", "/api/v1/rounds"))["rounds"]
    new = [r["round_id"] for r in rounds if r["round_id"] not in before]
    assert len(new) == 1, rounds
    path = f"/api/v1/rounds/{new[0]}"
    assert (await node_api(trio.alice, "GET", path))["status"] == "running"
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    def cancelled() -> dict[str, Any] | None:
        view: dict[str, Any] = api(trio.alice, "GET", path)
        return view if view["status"] == "cancelled" else None

    view = await asyncio.to_thread(wait_for, cancelled, 30, "the round cancelled at alice", 0.2)
    assert view["error"] == "cancelled by the asker" and not view.get("result")
    assert view["stages"][-1]["stage"] == "cancelled"
    # the session is still usable after the cancelled request
    assert not (await session.call_tool("contacts_status", {})).is_error
