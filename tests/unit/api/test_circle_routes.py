"""The circle routes (behind the token, over the node's real services) and the MCP tools."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from mcp import Client

from gateway.mcp.nodeapi import NodeApi
from gateway.mcp.server import build_server
from tests.unit.api.nodeapp import NodeApp

PREFIX = "/api/v1/circles"


@pytest.fixture
async def running(node: NodeApp) -> AsyncIterator[NodeApp]:
    """The node with its circle service's loop running (as ``gateway run`` starts it)."""
    assert node.services.circles is not None
    task = asyncio.create_task(node.services.circles.run())
    yield node
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def auth(node: NodeApp) -> dict[str, str]:
    return {"Authorization": f"Bearer {node.token}"}


async def test_circle_routes_need_the_token(client: TestClient[Any, Any]) -> None:
    assert (await client.get(PREFIX)).status == 401
    assert (await client.post(PREFIX, json={"name": "x"})).status == 401


async def test_a_circle_of_one_creates_proposes_and_logs(
    running: NodeApp, client: TestClient[Any, Any]
) -> None:
    h = auth(running)
    resp = await client.post(PREFIX, json={"name": "solo", "checkpoint_interval": 2}, headers=h)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["name"] == "solo" and made["status"] == "joined" and made["replica"]["n"] == 1
    listed = await (await client.get(PREFIX, headers=h)).json()
    assert [c["id"] for c in listed["circles"]] == [made["id"]]
    body = {"kind": "record-answer", "round_id": "ab" * 32, "answer": "42"}
    resp = await client.post(f"{PREFIX}/solo/proposals", json=body, headers=h)
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["proposed"]["answer_digest"] == hashlib.sha256(b"42").hexdigest()
    space = {"kind": "set-space", "space": "solo-notes", "policy": "open"}
    assert (await client.post(f"{PREFIX}/solo/proposals", json=space, headers=h)).status == 202

    async def logged() -> list[dict[str, Any]]:
        while True:
            entries: list[dict[str, Any]] = (
                await (await client.get(f"{PREFIX}/{made['id'][:12]}/log", headers=h)).json()
            )["entries"]
            if len(entries) == 2:
                return entries
            await asyncio.sleep(0.05)

    entries = await asyncio.wait_for(logged(), 10)
    assert [e["kind"] for e in entries] == ["record_answer", "set_space"]
    assert [e["seq"] for e in entries] == [1, 2]
    status = await (await client.get(f"{PREFIX}/solo", headers=h)).json()
    assert status["answers"] == [
        {"round_id": "ab" * 32, "answer_digest": hashlib.sha256(b"42").hexdigest()}
    ]
    assert status["spaces"] == [{"name": "solo-notes", "policy": "open", "members": []}]
    echo = await (await client.post(f"{PREFIX}/solo/echo", headers=h)).json()
    assert echo["answered"] == [] == echo["missing"] and echo["seconds"] is not None
    # the circle's space is now a memory space of this node (shared with no one else)
    space_now = running.services.memory.store.space("solo-notes")
    assert space_now is not None and not space_now.all_contacts and not space_now.members


async def test_bad_requests_name_what_is_wrong(
    running: NodeApp, client: TestClient[Any, Any]
) -> None:
    h = auth(running)
    assert (await client.post(PREFIX, json={"name": "solo"}, headers=h)).status == 201
    cases: list[tuple[str, str, Any, int, str, str]] = [
        ("GET", f"{PREFIX}/nope", None, 404, "not_found", "no circle"),
        ("POST", PREFIX, {"name": "x", "members": ["bob"]}, 400, "circle_state", "'bob'"),
        ("POST", PREFIX, {"name": "solo"}, 400, "circle_state", "already named"),
        ("POST", PREFIX, {"name": "y", "checkpoint_interval": 0}, 400, "circle_state", "1 to"),
        ("POST", PREFIX, {"name": "y", "colour": 1}, 400, "bad_request", "colour"),
        ("POST", f"{PREFIX}/solo/proposals", {"kind": "vote"}, 400, "circle_state", "kind"),
        (
            "POST", f"{PREFIX}/solo/proposals", {"kind": "add-member", "member": "bob"},
            400, "circle_state", "neither a contact",
        ),
        (
            "POST", f"{PREFIX}/solo/proposals", {"kind": "tombstone", "entry": "zz"},
            400, "circle_state", "entry",
        ),
        ("POST", f"{PREFIX}/solo/join", {}, 400, "circle_state", "already joined"),
        ("POST", f"{PREFIX}/solo/invite", {"contact": "bob"}, 400, "circle_state", "bob"),
        ("GET", f"{PREFIX}/solo/log?limit=0", None, 400, "circle_state", "limit"),
    ]  # fmt: skip
    for method, path, body, status, code, words in cases:
        resp = await client.request(method, path, json=body, headers=h)
        error = (await resp.json())["error"]
        assert (resp.status, error["code"]) == (status, code), (path, body, error)
        assert words in error["message"], (path, error)


async def test_mcp_tools_reach_the_circle_routes(running: NodeApp) -> None:
    async with TestServer(running.app, host="127.0.0.1") as server:
        api = NodeApi(str(server.make_url("")).rstrip("/"), running.token)
        async with Client(build_server(api)) as client:
            await api.call("POST", PREFIX, {"name": "solo"})
            listed = await client.call_tool("circle_status", {})
            assert not listed.is_error
            text = json.dumps(listed.structured_content or listed.content[0].text)
            assert "solo" in text
            done = await client.call_tool(
                "circle_propose",
                {"circle": "solo", "kind": "record-answer", "round_id": "cd" * 32, "answer": "x"},
            )
            assert not done.is_error, done.content
            bad = await client.call_tool("circle_propose", {"circle": "solo", "kind": "nope"})
            assert bad.is_error and "circle_state" in bad.content[0].text  # type: ignore[union-attr]

            async def logged() -> Any:
                while True:
                    r = await client.call_tool("circle_log", {"circle": "solo"})
                    content = r.structured_content or json.loads(r.content[0].text)  # type: ignore[union-attr]
                    if content["entries"]:
                        return content["entries"]
                    await asyncio.sleep(0.05)

            entries = await asyncio.wait_for(logged(), 10)
            assert entries[0]["decision"]["round_id"] == "cd" * 32
            status = await client.call_tool("circle_status", {"circle": "solo"})
            assert not status.is_error


def test_the_lazy_mount_serves_every_route_of_the_module() -> None:
    """gateway.api.circle_mount lists the routes without loading circle_routes: the same."""
    from aiohttp import web

    from gateway.api import circle_mount, circle_routes

    def routes(routeset: Any) -> set[tuple[str, str]]:
        app = web.Application()
        routeset.add_to(app)
        return {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}

    real = circle_routes.CircleRoutes(None, str.encode, str.encode)  # type: ignore[arg-type]
    lazy = circle_mount.LazyCircleRoutes(None, str.encode, str.encode)  # type: ignore[arg-type]
    assert circle_mount.PREFIX == circle_routes.PREFIX
    assert routes(lazy) == routes(real)


async def test_the_circle_service_is_made_by_the_first_circle_call(
    node: NodeApp, client: TestClient[Any, Any]
) -> None:
    """A node without circles opens no circles.db until the API (or a contact) asks."""
    assert node.services.circles is not None and node.services.circles.service is None
    db = node.paths.root / "circles.db"
    assert not db.exists()
    listed = await client.get(PREFIX, headers=auth(node))
    assert listed.status == 200 and (await listed.json())["circles"] == []
    assert node.services.circles.service is not None and db.exists()
