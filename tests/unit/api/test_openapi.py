"""The OpenAPI document: served, equal to docs/openapi.json, and covering every route."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from gateway.api import openapi
from tests.unit.api.nodeapp import NodeApp

DOCS = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
METHODS = {"get", "post", "put", "patch", "delete"}


def app_operations(node: NodeApp) -> set[tuple[str, str]]:
    out = set()
    for route in node.app.router.routes():
        if route.method != "HEAD" and route.resource is not None:
            out.add((route.method.lower(), route.resource.canonical))
    return out


def doc_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m, p) for p, item in doc["paths"].items() for m in item if m in METHODS}


def test_checked_in_copy_is_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == openapi.text(), (
        "regenerate: python -m gateway.api.openapi > docs/openapi.json"
    )


async def test_served_document_equals_checked_in(node: NodeApp) -> None:
    async with TestClient(TestServer(node.app)) as client:
        resp = await client.get(openapi.PATH, headers={"Authorization": f"Bearer {node.token}"})
        assert resp.status == 200
        assert await resp.json() == json.loads(DOCS.read_text(encoding="utf-8"))
        assert (await client.get(openapi.PATH)).status == 401


def test_every_route_is_documented_and_nothing_else(node: NodeApp) -> None:
    doc = openapi.document()
    assert app_operations(node) == doc_operations(doc)


def test_every_operation_has_auth_errors_and_an_id() -> None:
    doc = openapi.document()
    ids = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            ids.append(op["operationId"])
            assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
            public = path.startswith("/dashboard")
            assert (op.get("security") == []) is public, (method, path)
    assert len(ids) == len(set(ids))
    assert doc["security"] == [{"bearer": []}] and doc["openapi"].startswith("3.1")


def test_every_reference_resolves() -> None:
    text = openapi.text()
    names = set(openapi.document()["components"]["schemas"])
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', text))
    assert refs and refs <= names


def test_the_sync_result_schema_matches_what_sync_returns() -> None:
    # schemathesis only sees empty result lists (no contact online): check a full one here
    from gateway.api.memory_routes import sync_json
    from gateway.api.openapi_schemas import SYNC_RESULT
    from gateway.memory.hub import SyncFinished

    result = sync_json(SyncFinished(b"\x01" * 32, 7, True, 3, {"bad_signature": 2}, None))
    props = SYNC_RESULT["properties"]
    assert set(result) == set(props) == set(SYNC_RESULT["required"])
    refused = props["refused"]
    assert refused["type"] == "object" and refused["additionalProperties"] == {"type": "integer"}
    assert all(isinstance(v, int) for v in result["refused"].values())
