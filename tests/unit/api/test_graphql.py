"""The read-only GraphQL endpoint over a node's real services (the full app in a temp dir)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.api.graphql_routes import MAX_ALIASES, MAX_DEPTH
from tests.unit.api.nodeapp import NodeApp


async def query(
    client: TestClient[Any, Any], node: NodeApp, text: str, **variables: Any
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        "/graphql",
        json={"query": text, "variables": variables},
        headers={"Authorization": f"Bearer {node.token}"},
    )
    return resp.status, await resp.json()


async def put(client: TestClient[Any, Any], node: NodeApp, text: str, **fields: Any) -> str:
    resp = await client.post("/api/v1/memory", json={"text": text, **fields},
                             headers={"Authorization": f"Bearer {node.token}"})  # fmt: skip
    assert resp.status == 201
    return str((await resp.json())["id"])


async def test_memory_recent_search_and_one_entry(
    client: TestClient[Any, Any], node: NodeApp
) -> None:
    first = await put(client, node, "the heron nests by the mill", topic="birds", tags=["river"])
    await put(client, node, "the fox runs in the snow")
    status, data = await query(client, node, "{ memory(limit: 5) { id body topic tags } }")
    assert status == 200 and "errors" not in data
    assert [e["body"] for e in data["data"]["memory"]] == [
        "the fox runs in the snow", "the heron nests by the mill"]  # fmt: skip
    status, data = await query(
        client, node, "query($q: String) { memory(search: $q) { id topic tags } }", q="heron"
    )
    assert data["data"]["memory"] == [{"id": first, "topic": "birds", "tags": ["river"]}]
    status, data = await query(
        client, node, "query($id: String!) { entry(id: $id) { body author space } }", id=first[:10]
    )
    assert data["data"]["entry"]["body"] == "the heron nests by the mill"
    assert data["data"]["entry"]["space"] == "default"
    status, data = await query(client, node, '{ entry(id: "ffffffffffff") { body } }')
    assert data["data"] == {"entry": None}


async def test_memory_filters_by_topic_and_tags(
    client: TestClient[Any, Any], node: NodeApp
) -> None:
    heron = await put(client, node, "a heron by the mill", topic="birds", tags=["river", "mill"])
    await put(client, node, "a kite over the hill", topic="birds", tags=["hill"])
    await put(client, node, "the mill wheel turns", topic="places", tags=["river", "mill"])
    text = "query($t: String, $g: [String!]) { memory(topic: $t, tags: $g) { id body } }"
    status, data = await query(client, node, text, t="birds", g=["mill", "river"])
    assert status == 200
    assert data["data"]["memory"] == [{"id": heron, "body": "a heron by the mill"}]
    status, data = await query(client, node, text, t="birds")
    assert [e["body"] for e in data["data"]["memory"]] == [
        "a kite over the hill", "a heron by the mill"]  # fmt: skip
    status, data = await query(client, node, text, g=["river"])
    assert {e["body"] for e in data["data"]["memory"]} == {
        "a heron by the mill", "the mill wheel turns"}  # fmt: skip
    status, data = await query(
        client, node, '{ memory(search: "mill", tags: ["river"], limit: 1) { topic } }'
    )
    assert len(data["data"]["memory"]) == 1
    status, data = await query(client, node, '{ memory(topic: "fish") { id } }')
    assert data["data"]["memory"] == []


async def test_contacts_and_rounds_are_empty_on_a_new_node(
    client: TestClient[Any, Any], node: NodeApp
) -> None:
    status, data = await query(
        client,
        node,
        '{ contacts { id } contact(name: "bob") { id } rounds { id } round(id: "ab") { id } }',
    )
    assert status == 200 and data["data"] == {
        "contacts": [], "contact": None, "rounds": [], "round": None}  # fmt: skip


async def test_there_are_no_mutations(client: TestClient[Any, Any], node: NodeApp) -> None:
    _, data = await query(client, node, 'mutation { put(text: "x") { id } }')
    assert data.get("errors") and not data.get("data")
    _, data = await query(client, node, "{ __schema { mutationType { name } } }")
    assert data["data"]["__schema"]["mutationType"] is None


async def test_bad_queries_get_graphql_errors(client: TestClient[Any, Any], node: NodeApp) -> None:
    _, data = await query(client, node, "")
    assert data["error"]["code"] == "bad_request"  # not GraphQL at all: the API's error
    for text in ("{ memory { nosuchfield } }", "{ memory(limit: 0) { id } }", "{ {"):
        status, data = await query(client, node, text)
        assert status in (200, 400) and data.get("errors"), (text, data)
        assert all(isinstance(e["message"], str) and e["message"] for e in data["errors"])


async def test_huge_introspection_and_many_aliases_are_refused(
    client: TestClient[Any, Any], node: NodeApp
) -> None:
    deep = "{ __schema { types { fields { type " + "{ ofType " * 500 + "{ name }" + " }" * 500
    _, data = await query(client, node, deep + " } } } }")
    assert data.get("errors") and data.get("data") is None  # nested too deeply to parse
    wide = "{ __schema { types { " + "name " * 3000 + "} } }"
    _, data = await query(client, node, wide)
    assert data.get("errors") and "token" in str(data["errors"]).lower()
    aliases = "{ " + " ".join(f"a{i}: contacts {{ id }}" for i in range(MAX_ALIASES + 5)) + " }"
    _, data = await query(client, node, aliases)
    assert data.get("errors") and "alias" in str(data["errors"]).lower()


async def test_the_deepest_real_query_is_within_the_limit(
    client: TestClient[Any, Any], node: NodeApp
) -> None:
    _, data = await query(client, node, "{ rounds { ranked { author } } }")
    assert "errors" not in data and MAX_DEPTH >= 3


async def test_the_token_is_required(client: TestClient[Any, Any]) -> None:
    for method in ("GET", "POST"):
        resp = await client.request(
            method, "/graphql?query={contacts{id}}", json={"query": "{ contacts { id } }"}
        )
        assert resp.status == 401

