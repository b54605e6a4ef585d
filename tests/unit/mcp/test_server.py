"""The MCP server, driven by the ``mcp`` SDK's own client, over a node's real local API.

The API is the full node app (real services in a temp dir, listening on 127.0.0.1) for the
memory, contacts and error paths; council_ask runs against a council of in-process nodes
(real RoundsService, scripted AIs, fake links and clock) behind the rounds routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from mcp import Client

from gateway.api.rounds_routes import RoundsRoutes
from gateway.api.server import LocalApi
from gateway.contacts.book import ContactState
from gateway.mcp.nodeapi import NodeApi
from gateway.mcp.server import build_server
from tests.unit.api.nodeapp import NodeApp
from tests.unit.api.test_openai_compat import _tick
from tests.unit.api.test_rounds_routes import FakeBook, FakeContact
from tests.unit.node.test_rounds import Council, GatedAdapter, make_council, scripted

__all__ = ["make_council"]

QUESTION = "Compute 6 * 7. Reply with the integer."
TIMES = {"answer": 2, "reveal": 1, "review": 2, "synthesis": 2}


@pytest.fixture
async def api(node: NodeApp) -> AsyncIterator[NodeApi]:
    async with TestServer(node.app, host="127.0.0.1") as server:
        yield NodeApi(str(server.make_url("")).rstrip("/"), node.token)


def data(result: Any) -> Any:
    """A tool result's JSON (its structured content, else its text)."""
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


def error_text(result: Any) -> str:
    assert result.is_error
    return str(result.content[0].text)


async def test_the_tools_and_resources_are_listed(api: NodeApi) -> None:
    async with Client(build_server(api)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"memory_search", "memory_put", "memory_get", "memory_list_recent",
                         "council_ask", "contacts_status", "circle_status", "circle_propose",
                         "circle_log"}  # fmt: skip
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {"gateway://memory/recent", "gateway://rounds/recent"} <= uris
        listed = (await client.list_resource_templates()).resource_templates
        templates = {t.uri_template for t in listed}
        assert {"gateway://memory/{entry_id}", "gateway://rounds/{round_id}"} <= templates


async def test_memory_put_get_search_and_list(api: NodeApi) -> None:
    async with Client(build_server(api)) as client:
        put = data(await client.call_tool(
            "memory_put", {"text": "The heron nests by the old mill", "topic": "birds",
                           "tags": ["nature", "river"]}))  # fmt: skip
        entry_id = put["id"]
        got = data(await client.call_tool("memory_get", {"id": entry_id[:12]}))
        assert got["body"] == "The heron nests by the old mill" and got["id"] == entry_id
        found = data(await client.call_tool("memory_search", {"query": "heron"}))
        assert [e["id"] for e in found["entries"]] == [entry_id]
        assert data(await client.call_tool(
            "memory_search", {"query": "heron", "tags": ["river"], "topic": "birds"}
        ))["entries"]  # fmt: skip
        assert data(await client.call_tool(
            "memory_search", {"query": "heron", "tags": ["desert"]}
        ))["entries"] == []  # fmt: skip
        recent = data(await client.call_tool("memory_list_recent", {"limit": 5}))
        assert entry_id in [e["id"] for e in recent["entries"]]
        resource = await client.read_resource("gateway://memory/recent")
        assert entry_id in resource.contents[0].text
        one = await client.read_resource(f"gateway://memory/{entry_id}")
        assert json.loads(one.contents[0].text)["id"] == entry_id


async def test_contacts_status_and_rounds_resource(api: NodeApi) -> None:
    async with Client(build_server(api)) as client:
        assert data(await client.call_tool("contacts_status", {})) == {"peers": []}
        rounds = await client.read_resource("gateway://rounds/recent")
        assert json.loads(rounds.contents[0].text) == {"rounds": []}


@pytest.mark.parametrize(
    ("tool", "args", "says"),
    [
        ("memory_get", {"id": "ffffffffffff"}, "not_found"),
        ("memory_get", {"id": " "}, "id is required"),
        ("memory_put", {"text": "x", "space": "nowhere"}, "nowhere"),
        ("memory_put", {"text": "  "}, "text is empty"),
        ("memory_search", {"query": ""}, "query"),
        ("memory_search", {"query": "x", "limit": 0}, "limit"),
        ("memory_list_recent", {"limit": 5000}, "limit"),
        ("council_ask", {"question": QUESTION}, "participants"),
        ("council_ask", {"question": QUESTION, "participants": ["zed"]}, "zed"),
        ("memory_put", {"text": 42}, "text"),
        ("memory_search", {"query": "x", "limit": "many"}, "limit"),
        ("council_ask", {}, "question"),
    ],
)
async def test_bad_arguments_are_tool_errors_not_crashes(
    api: NodeApi, tool: str, args: dict[str, Any], says: str
) -> None:
    async with Client(build_server(api)) as client:
        assert says in error_text(await client.call_tool(tool, args))
        assert (await client.call_tool("contacts_status", {})).is_error is False  # still up


async def test_a_node_that_is_not_running_is_a_clear_tool_error() -> None:
    gone = NodeApi("http://127.0.0.1:9", "token")  # the discard port: nothing listens
    async with Client(build_server(gone)) as client:
        assert "did not answer" in error_text(await client.call_tool("contacts_status", {}))


@pytest.fixture
def gates() -> list[GatedAdapter]:
    """Bob's and carol's AIs: they answer once their gate is set."""
    return [GatedAdapter(), GatedAdapter()]


@pytest.fixture
async def council_api(
    make_council: Callable[..., Council], gates: list[GatedAdapter]
) -> AsyncIterator[NodeApi]:
    council = make_council([scripted(seed=0), *gates])
    paired = ContactState.PAIRED
    book = FakeBook(
        [FakeContact(council.pub(1), "bob", paired), FakeContact(council.pub(2), "carol", paired)]
    )
    routes = RoundsRoutes(council.nodes[0], book)  # type: ignore[arg-type]
    app = LocalApi(object(), object(), dict, routes=[routes]).app("t0ken")  # type: ignore[arg-type]
    clock = asyncio.get_running_loop().create_task(_tick(council))
    async with TestServer(app, host="127.0.0.1") as server:
        yield NodeApi(str(server.make_url("")).rstrip("/"), "t0ken")
    clock.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await clock


async def test_council_ask_runs_a_round_and_reports_progress(
    council_api: NodeApi, gates: list[GatedAdapter]
) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))
        for gate in gates:  # the first report (the commit stage) lets the AIs answer
            gate.gate.set()

    async with Client(build_server(council_api)) as client:
        result = await client.call_tool(
            "council_ask", {"question": QUESTION, "times": TIMES}, progress_callback=on_progress
        )
        summary = data(result)
        assert summary["status"] in ("ok", "fallback") and summary["synthesis"]
        assert {r["author"] for r in summary["ranked"]} >= {"bob", "carol"}
        assert all(r["answer"] for r in summary["ranked"]) and summary["round_id"]
        shown = await client.read_resource(f"gateway://rounds/{summary['round_id']}")
        assert json.loads(shown.contents[0].text)["result"]["text"] == summary["synthesis"]
    steps = [p[0] for p in progress]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 4 and len(steps) >= 3
    assert "commit" in str(progress[0][2])
    assert all(total == 4 for _, total, _ in progress)


async def test_cancelling_council_ask_cancels_the_round(council_api: NodeApi) -> None:
    slow = {"answer": 300, "reveal": 300, "review": 300, "synthesis": 300}
    async with Client(build_server(council_api)) as client:
        args = {"question": QUESTION, "times": slow}
        call = asyncio.ensure_future(client.call_tool("council_ask", args))
        for _ in range(200):
            listed = (await council_api.call("GET", "/api/v1/rounds"))["rounds"]
            if listed:
                break
            await asyncio.sleep(0.01)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
    rid = listed[0]["round_id"]
    for _ in range(300):
        view = await council_api.call("GET", f"/api/v1/rounds/{rid}")
        if view["status"] == "cancelled":
            break
        await asyncio.sleep(0.01)
    assert view["status"] == "cancelled"
