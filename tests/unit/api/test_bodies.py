"""Every malformed body on every route that takes one: a 400 or 413 JSON error, never a 500.

Deeply nested JSON used to give HTTP 500 on every POST route (RecursionError in the JSON
decoder, with a traceback in the log).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.api.server import MAX_BODY
from tests.unit.api.nodeapp import NodeApp

SAMPLE = {"id": "ab" * 32, "contact": "nobody", "name": "app.js", "circle": "team"}
NESTED = b"[" * 100_000 + b"]" * 100_000
BODIES: dict[str, tuple[bytes, int]] = {
    "nested 100000 deep": (NESTED, 400),
    "nested objects": (b'{"a":' * 40_000 + b"1" + b"}" * 40_000, 400),
    "invalid UTF-8": (b'{"text": "\xff\xfe"}', 400),
    "not JSON": (b"text=hello", 400),
    "truncated JSON": (b'{"text": "hel', 400),
    "a JSON list": (b"[1, 2, 3]", 400),
    "a JSON string": (b'"hello"', 400),
    "empty": (b"", 400),
    "one byte over the limit": (b" " * (MAX_BODY + 1), 413),
    "10 MB": (b"{" + b" " * 10_000_000 + b"}", 413),
}


#: POST routes that take no body (and do not read one)
NO_BODY = {"/api/v1/memory/sync", "/api/v1/circles/{circle}/echo"}


def body_routes(node: NodeApp) -> list[tuple[str, str]]:
    out = []
    for route in node.app.router.routes():
        if route.method in ("POST", "PUT", "PATCH") and route.resource is not None:
            if route.resource.canonical in NO_BODY:
                continue
            path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], route.resource.canonical)
            out.append((route.method, path))
    return out


def test_the_walk_finds_the_routes_that_take_bodies(node: NodeApp) -> None:
    found = {path for _, path in body_routes(node)}
    assert {"/api/v1/messages", "/api/v1/contacts", "/api/v1/invites", "/api/v1/memory",
            "/api/v1/rounds"} <= found  # fmt: skip


@pytest.mark.parametrize("what", list(BODIES))
async def test_a_malformed_body_is_a_json_4xx_on_every_route(
    node: NodeApp,
    client: TestClient[Any, Any],
    caplog: pytest.LogCaptureFixture,
    what: str,
) -> None:
    body, status = BODIES[what]
    headers = {"Authorization": f"Bearer {node.token}", "Content-Type": "application/json"}
    with caplog.at_level(logging.DEBUG):
        for method, path in body_routes(node):
            resp = await client.request(method, path, data=body, headers=headers)
            assert resp.status == status, (method, path, resp.status, await resp.text())
            error = (await resp.json())["error"]
            assert error["code"] == ("bad_request" if status == 400 else "request_entity_too_large")
            assert error["message"]
            if status == 413:
                assert str(MAX_BODY // 1024) in error["message"]  # our words, with the limit
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_depth_counts_brackets_outside_strings_only() -> None:
    from gateway.api.replies import json_depth

    assert json_depth('{"a": [1, {"b": "[[[{{{"}], "c": "\\"]"}') == 3
    assert json_depth("[" * 70 + "]" * 70) == 70
    assert json_depth('"[[[["') == 0


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_an_empty_message_is_refused_not_queued(
    node: NodeApp, client: TestClient[Any, Any], text: str
) -> None:
    headers = {"Authorization": f"Bearer {node.token}"}
    resp = await client.post("/api/v1/messages", json={"to": "bob", "text": text}, headers=headers)
    assert resp.status == 400
    assert (await resp.json())["error"] == {
        "code": "bad_request", "message": "an empty message is not sent"
    }
