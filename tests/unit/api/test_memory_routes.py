"""The local API's memory routes, behind LocalApi's token check, over a real MemoryService."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.api.memory_routes import PREFIX, MemoryRoutes
from gateway.api.server import LocalApi
from gateway.memory.author import append_entry
from gateway.memory.spaces import Space
from gateway.node.memops import MemoryService
from tests.unit.memory.helpers import key_from
from tests.unit.node.memnet import Net, Node, make_node

TOKEN = "secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 1000
        return self.now


@pytest.fixture
def net() -> Net:
    return Net()


@pytest.fixture
def node(net: Net, tmp_path: Path) -> Node:
    return make_node(net, tmp_path, 1)


@pytest.fixture
def service(node: Node) -> MemoryService:
    return MemoryService(node.store, node.key, node.sync, Clock())


@pytest.fixture
async def client(service: MemoryService) -> AsyncIterator[TestClient[Any, Any]]:
    api = LocalApi(object(), object(), dict, routes=[MemoryRoutes(service)])  # type: ignore[arg-type]
    async with TestClient(TestServer(api.app(TOKEN))) as c:
        yield c


async def call(
    client: TestClient[Any, Any], method: str, path: str, body: Any = None, **kw: Any
) -> tuple[int, Any]:
    resp = await client.request(method, PREFIX + path, json=body, headers=AUTH, **kw)
    return resp.status, await resp.json()


async def put(client: TestClient[Any, Any], **body: Any) -> dict[str, Any]:
    status, data = await call(client, "POST", "", body)
    assert status == 201, data
    return dict(data)


def error_code(data: Any) -> str:
    return str(data["error"]["code"])


# --- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
async def test_token_required(client: TestClient[Any, Any], headers: dict[str, str]) -> None:
    for method, path in (("GET", ""), ("POST", ""), ("GET", "/stats"), ("POST", "/sync")):
        resp = await client.request(method, PREFIX + path, headers=headers, json={"text": "x"})
        assert resp.status == 401
        assert error_code(await resp.json()) == "unauthorized"


async def test_unauthorized_put_stores_nothing(
    client: TestClient[Any, Any], service: MemoryService
) -> None:
    resp = await client.post(PREFIX, json={"text": "sneaky"})
    assert resp.status == 401
    assert service.store.count() == 0


# --- write and read ----------------------------------------------------------------------------


async def test_put_get_list(client: TestClient[Any, Any], service: MemoryService) -> None:
    entry = await put(client, text="buy milk", topic="errands", tags=["shop"], metadata={"n": 2})
    assert entry["body"] == "buy milk" and entry["author"] == service.author.hex()
    assert (entry["tags"], entry["metadata"], entry["kind"]) == (["shop"], {"n": 2}, "note")
    status, got = await call(client, "GET", "/" + entry["id"])
    assert status == 200 and got == {**entry, "replaced_by": None}
    status, listed = await call(client, "GET", "")
    assert status == 200 and listed == {"entries": [entry]}


async def test_put_in_another_space(client: TestClient[Any, Any], service: MemoryService) -> None:
    service.store.set_space(Space("work", True))
    entry = await put(client, text="plan", space="work")
    assert entry["space"] == "work"
    status, data = await call(client, "GET", "?space=work")
    assert status == 200
    assert [e["id"] for e in data["entries"]] == [entry["id"]]
    assert await call(client, "GET", "?space=default") == (200, {"entries": []})


async def test_supersede_and_delete(client: TestClient[Any, Any]) -> None:
    old = await put(client, text="draft")
    new = await put(client, text="final", supersedes=old["id"])
    assert (new["kind"], new["target"]) == ("supersede", old["id"])
    status, shown = await call(client, "GET", "/" + old["id"])
    assert shown["replaced_by"] == new["id"]
    status, tomb = await call(client, "DELETE", "/" + new["id"])
    assert status == 201 and (tomb["kind"], tomb["target"]) == ("tombstone", new["id"])
    status, listed = await call(client, "GET", "")
    assert listed == {"entries": []}


async def test_list_paging(client: TestClient[Any, Any]) -> None:
    made = [await put(client, text=f"n{i}") for i in range(4)]
    status, data = await call(client, "GET", "?limit=2")
    assert [e["id"] for e in data["entries"]] == [made[3]["id"], made[2]["id"]]
    before = made[2]["timestamp_ms"]
    status, data = await call(client, "GET", f"?before_ms={before}")
    assert status == 200
    assert [e["id"] for e in data["entries"]] == [made[1]["id"], made[0]["id"]]


async def test_search(client: TestClient[Any, Any]) -> None:
    a = await put(client, text="the red fox")
    await put(client, text="the blue whale")
    status, data = await call(client, "GET", "/search?q=red+fox")
    assert status == 200 and [e["id"] for e in data["entries"]] == [a["id"]]
    status, data = await call(client, "GET", "/search?q=the&limit=1")
    assert len(data["entries"]) == 1


# --- refusals --------------------------------------------------------------------------------


async def test_get_and_delete_unknown(client: TestClient[Any, Any]) -> None:
    for method in ("GET", "DELETE"):
        status, data = await call(client, method, "/" + "ab" * 32)
        assert status == 404 and error_code(data) == "not_found"


@pytest.mark.parametrize("bad", ["xyz", "abcdef1", "ab" * 32 + "00", "stats2"])
async def test_bad_ids(client: TestClient[Any, Any], bad: str) -> None:
    for method in ("GET", "DELETE"):
        status, data = await call(client, method, "/" + bad)
        assert status == 400 and error_code(data).startswith("entry_")
        assert "64 hex digits" in data["error"]["message"]


async def test_delete_of_someone_elses_entry(
    client: TestClient[Any, Any], service: MemoryService
) -> None:
    theirs = append_entry(service.store, key_from(50), timestamp_ms=1, body="theirs")
    status, data = await call(client, "DELETE", "/" + theirs.id.hex())
    assert status == 400 and "only the author" in data["error"]["message"]
    assert service.store.count() == 1


async def test_bad_json(client: TestClient[Any, Any], service: MemoryService) -> None:
    resp = await client.post(PREFIX, data=b"{not json", headers=AUTH)
    assert resp.status == 400 and error_code(await resp.json()) == "bad_request"
    resp = await client.post(PREFIX, data=b"\xff\xfe", headers=AUTH)
    assert resp.status == 400
    assert service.store.count() == 0


BAD_BODIES: list[tuple[Any, str]] = [
    ([1, 2], "bad_request"),
    ("text", "bad_request"),
    ({}, "bad_request"),
    ({"text": 5}, "bad_request"),
    ({"text": "x", "colour": "red"}, "bad_request"),
    ({"text": "x", "tags": ["ok", 3]}, "entry_malformed"),
    ({"text": "x", "tags": "one"}, "entry_malformed"),
    ({"text": "x", "tags": ["two words"]}, "entry_malformed"),
    ({"text": "x", "metadata": [1]}, "entry_malformed"),
    ({"text": "x", "metadata": []}, "entry_malformed"),
    ({"text": "x", "metadata": 0}, "entry_malformed"),
    ({"text": "x", "metadata": {"f": 0.5}}, "entry_malformed"),
    ({"text": "x", "space": 3}, "entry_malformed"),
    ({"text": "x", "space": "nowhere"}, "entry_wrong_space"),
    ({"text": "x", "topic": ["t"]}, "entry_malformed"),
    ({"text": "x", "supersedes": 7}, "entry_malformed"),
    ({"text": "x", "supersedes": ""}, "entry_malformed"),
    ({"text": "x", "supersedes": "beef"}, "entry_malformed"),
    ({"text": "x" * 70_000}, "entry_oversized"),
]


@pytest.mark.parametrize(("body", "code"), BAD_BODIES)
async def test_bad_put_bodies(
    client: TestClient[Any, Any], service: MemoryService, body: Any, code: str
) -> None:
    status, data = await call(client, "POST", "", body)
    assert status == 400 and error_code(data) == code, data
    assert service.store.count() == 0


async def test_unknown_fields_are_named(client: TestClient[Any, Any]) -> None:
    status, data = await call(client, "POST", "", {"text": "x", "zeta": 1, "alpha": 2})
    assert status == 400 and data["error"]["message"] == "unknown fields: alpha, zeta"


async def test_put_too_large_for_the_api(
    client: TestClient[Any, Any], service: MemoryService
) -> None:
    resp = await client.post(PREFIX, json={"text": "x" * 300_000}, headers=AUTH)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "request_entity_too_large"
    assert service.store.count() == 0


async def test_aiohttp_errors_are_json_too(client: TestClient[Any, Any]) -> None:
    resp = await client.put(PREFIX, json={}, headers=AUTH)
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
    resp = await client.get("/api/v1/nothing-here", headers=AUTH)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize("query", ["", "?q=", "?q=+++", "?space=default"])
async def test_search_needs_words(client: TestClient[Any, Any], query: str) -> None:
    status, data = await call(client, "GET", "/search" + query)
    assert status == 400 and "q (the words" in data["error"]["message"]


@pytest.mark.parametrize(
    "path",
    ["?limit=0", "?limit=1001", "?limit=ten", "?before_ms=-1", "/search?q=a&limit=0",
     "/sync?timeout=0", "/sync?timeout=601", "/sync?timeout=1.5"],
)  # fmt: skip
async def test_bad_numbers(client: TestClient[Any, Any], path: str) -> None:
    method = "POST" if path.startswith("/sync") else "GET"
    status, data = await call(client, method, path)
    assert status == 400 and error_code(data).startswith("entry_")
    assert "must be an integer from" in data["error"]["message"]


# --- sync, verify, stats -------------------------------------------------------------------


async def test_sync_with_a_contact(
    client: TestClient[Any, Any], net: Net, node: Node, tmp_path: Path
) -> None:
    other = make_node(net, tmp_path, 2)
    append_entry(other.store, other.key, timestamp_ms=5, body="from other")
    net.connect(node, other)
    status, data = await call(client, "POST", "/sync?timeout=5")
    assert status == 200
    assert data == {
        "results": [
            {"peer": other.pub.hex(), "ok": True, "stored": 1, "refused": {}, "error": None}
        ]
    }


async def test_sync_with_nobody_online(client: TestClient[Any, Any]) -> None:
    assert await call(client, "POST", "/sync") == (200, {"results": []})


async def test_verify_and_stats(client: TestClient[Any, Any]) -> None:
    await put(client, text="one")
    status, report = await call(client, "GET", "/verify")
    assert status == 200 and report["ok"] is True and report["entries"] == 1
    status, stats = await call(client, "GET", "/stats")
    assert status == 200 and stats["entries"] == 1
    assert stats["spaces"]["default"] == {"entries": 1, "shared_with_all": True}
