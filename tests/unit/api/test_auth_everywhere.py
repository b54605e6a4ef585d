"""Every route of the node's API app refuses a missing or wrong token with 401 (WebSocket too)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.api.events import PATH as EVENTS
from gateway.api.events import PROTOCOL
from tests.unit.api.nodeapp import NodeApp

SAMPLE = {
    "id": "ab" * 32, "contact": "nobody", "name": "app.js", "model": "council", "circle": "team",
}  # fmt: skip


def protected_routes(node: NodeApp) -> list[tuple[str, str]]:
    """(method, concrete path) of every route that needs the token."""
    out = []
    for route in node.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method == "HEAD" or path.startswith("/dashboard"):
            continue
        out.append((route.method, re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)))
    return out


def test_the_walk_covers_every_subsystem(node: NodeApp) -> None:
    paths = {p for _, p in protected_routes(node)}
    for expected in ("/api/v1/status", "/api/v1/contacts", "/api/v1/invites", "/api/v1/config"):
        assert expected in paths
    assert {"/api/v1/memory", "/api/v1/rounds", "/api/v1/circles", "/metrics", EVENTS} <= paths
    assert {"/v1/models", "/v1/chat/completions"} <= paths  # the OpenAI-compatible endpoint
    assert len(protected_routes(node)) >= 24


BAD_HEADERS = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": "Bearer "},
    {"Authorization": "bearer-less"},
]


@pytest.mark.parametrize("headers", BAD_HEADERS, ids=["none", "wrong", "empty", "scheme"])
async def test_every_route_refuses(
    node: NodeApp, client: TestClient[Any, Any], headers: dict[str, str]
) -> None:
    for method, path in protected_routes(node):
        resp = await client.request(method, path, headers=headers, json={"text": "x"})
        assert resp.status == 401, (method, path)
        assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_the_raw_token_without_bearer_is_refused(
    node: NodeApp, client: TestClient[Any, Any]
) -> None:
    resp = await client.get("/api/v1/status", headers={"Authorization": node.token})
    assert resp.status == 401
    resp = await client.get("/api/v1/status", params={"token": node.token})
    assert resp.status == 401  # the query token is only for the event stream


async def test_right_token_passes(node: NodeApp, client: TestClient[Any, Any]) -> None:
    auth = {"Authorization": f"Bearer {node.token}"}
    for path in ("/api/v1/status", "/api/v1/contacts", "/api/v1/config", "/metrics"):
        assert (await client.get(path, headers=auth)).status == 200, path


async def test_unknown_paths_need_the_token_too(
    node: NodeApp, client: TestClient[Any, Any]
) -> None:
    assert (await client.get("/api/v1/nothing")).status == 401
    resp = await client.get("/api/v1/nothing", headers={"Authorization": f"Bearer {node.token}"})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "how",
    [
        {},
        {"headers": {"Authorization": "Bearer wrong"}},
        {"params": {"token": "wrong"}},
        {"protocols": (PROTOCOL, "bearer.wrong")},
    ],
    ids=["none", "header", "query", "subprotocol"],
)
async def test_websocket_refuses(client: TestClient[Any, Any], how: dict[str, Any]) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(EVENTS, **how)
    assert caught.value.status == 401


async def test_websocket_token_by_query_or_subprotocol(
    node: NodeApp, client: TestClient[Any, Any]
) -> None:
    ws = await client.ws_connect(EVENTS, params={"token": node.token})
    assert (await ws.receive_json())["type"] == "status"
    await ws.close()
    ws = await client.ws_connect(EVENTS, protocols=(PROTOCOL, f"bearer.{node.token}"))
    assert ws.protocol == PROTOCOL  # the token is not echoed when another protocol is offered
    assert (await ws.receive_json())["type"] == "status"
    await ws.close()


async def test_dashboard_is_public_but_nothing_else_through_it(
    client: TestClient[Any, Any],
) -> None:
    page = await client.get("/dashboard")
    assert page.status == 200 and "<html" in (await page.text()).lower()
    for sneaky in ("/dashboard/../api/v1/status", "/dashboard/static/../../api/v1/config"):
        resp = await client.get(sneaky)
        assert resp.status in (401, 404), sneaky
        assert "link_counters" not in await resp.text()
