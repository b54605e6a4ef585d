"""The local API's OpenAPI 3.1 document (served at ``/api/v1/openapi.json``, kept in docs/).

Regenerate the checked-in copy with ``python -m gateway.api.openapi > docs/openapi.json``.
"""

from __future__ import annotations

import copy
import functools
import json
import sys
from typing import Any

from gateway.api import openapi_circles
from gateway.api.openapi_schemas import (
    ANY_OBJECT,
    HEX64,
    INVITE,
    SCHEMAS,
    STRING,
    Schema,
    array,
    nullable,
    obj,
    ref,
)
from gateway.api.server import OPENAPI_PATH

PATH = OPENAPI_PATH
VERSION = "1.0.0"
JSON = "application/json"


def _json(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _query(name: str, schema: Schema, description: str, *, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _path(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _op(
    op_id: str,
    summary: str,
    ok: dict[str, Schema],
    *,
    tag: str,
    params: list[Schema] | None = None,
    body: Schema | None = None,
) -> Schema:
    """One operation: its success responses and, for every other status, the JSON error."""
    responses = {**ok, "default": _json(ref("Error"), "an error (401, 400, 404, 413, 429...)")}
    out: Schema = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": responses}
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    return out


LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
SPACE = _query("space", STRING, "only this memory space")


def _node_paths() -> dict[str, Schema]:
    return {
        "/api/v1/status": {
            "get": _op(
                "getStatus",
                "The node: level, tor and bootstrap progress, onion address, counters",
                {"200": _json(ref("Status"))},
                tag="node",
            )
        },
        "/api/v1/peers": {
            "get": _op(
                "listPeers",
                "Every contact's link: online, RTT, padding, traffic",
                {"200": _json(obj({"peers": array(ref("Peer"))}))},
                tag="node",
            )
        },
        "/api/v1/messages": {
            "get": _op(
                "listMessages",
                "Direct messages received",
                {"200": _json(obj({"messages": array(ref("Message"))}))},
                tag="messages",
                params=[
                    _query(
                        "after",
                        {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                        "only messages with a larger id",
                    )
                ],
            ),
            "post": _op(
                "sendMessage",
                "Send a direct message to a contact (queued until its link is up)",
                {"202": _json(obj({"id": STRING}), "accepted")},
                tag="messages",
                body=obj({"to": STRING, "text": STRING}),
            ),
        },
        "/api/v1/config": {
            "get": _op(
                "getConfig",
                "The effective configuration (read-only; secrets redacted)",
                {"200": _json(obj({"config": {"type": "object"}, "overridden": array(STRING)}))},
                tag="node",
            )
        },
        PATH: {
            "get": _op(
                "getOpenApi",
                "This document",
                {"200": _json({"type": "object"})},
                tag="node",
            )
        },
        "/metrics": {
            "get": _op(
                "getMetrics",
                "Prometheus metrics (text exposition format)",
                {
                    "200": {
                        "description": "OK",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                tag="node",
            )
        },
    }


def _page(op_id: str, summary: str, media: str, params: list[Schema] | None = None) -> Schema:
    """A public dashboard file (no token: it holds no secret)."""
    ok = {"description": "OK", "content": {media: {"schema": {"type": "string"}}}}
    op = _op(op_id, summary, {"200": ok}, tag="dashboard", params=params)
    op["security"] = []
    return {"get": op}


def _dashboard_paths() -> dict[str, Schema]:
    name = _path(
        "name",
        {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}\\.(js|css|svg)$"},
        "a file name",
    )
    return {
        "/dashboard": _page("dashboard", "The dashboard page", "text/html"),
        "/dashboard/": _page("dashboardSlash", "The dashboard page", "text/html"),
        "/dashboard/static/{name}": _page(
            "dashboardStatic", "The dashboard's scripts and style", "*/*", [name]
        ),
    }


INVITE_BODY = obj(
    {
        "expires_in": {"type": "integer", "minimum": 1, "maximum": 30 * 86400},
        "label": STRING,
        "nickname": STRING,
    },
    optional=("expires_in", "label", "nickname"),
)


def _contact_paths() -> dict[str, Schema]:
    return {
        "/api/v1/contacts": {
            "get": _op(
                "listContacts",
                "Every contact",
                {"200": _json(obj({"contacts": array(ref("Contact"))}))},
                tag="contacts",
            ),
            "post": _op(
                "addContact",
                "Add the node that made an invite (pending until the first link)",
                {"201": _json(ref("Contact"), "added")},
                tag="contacts",
                body=obj({"invite": STRING, "nickname": STRING}, optional=("nickname",)),
            ),
        },
        "/api/v1/contacts/{contact}": {
            "delete": _op(
                "removeContact",
                "Remove a contact and revoke its client authorization",
                {
                    "200": _json(
                        obj(
                            {
                                "removed": ref("Contact"),
                                "auth_removed": {"type": "boolean"},
                                "auth_private_removed": {"type": "boolean"},
                            }
                        )
                    )
                },
                tag="contacts",
                params=[_path("contact", STRING, "nickname, id or id prefix (8+ hex digits)")],
            ),
            "patch": _op(
                "renameContact",
                "Give a contact another nickname (1-32 bytes, unique among contacts)",
                {"200": _json(ref("Contact"), "renamed")},
                tag="contacts",
                params=[_path("contact", STRING, "nickname, id or id prefix (8+ hex digits)")],
                body=obj({"nickname": STRING}),
            ),
        },
        "/api/v1/invites": {
            "get": _op(
                "listInvites",
                "The invites this node made (no secrets)",
                {"200": _json(obj({"invites": array(ref("PendingInvite"))}))},
                tag="contacts",
            ),
            "post": _op(
                "makeInvite",
                "Make a single-use invite",
                {"201": _json(ref("Invite"), "made")},
                tag="contacts",
                body=INVITE_BODY,
            ),
        },
        "/api/v1/invites/qr": {
            "post": _op(
                "makeInviteWithQr",
                "Make a single-use invite, with its QR code as an SVG document (the dashboard's)",
                {"201": _json(obj({**INVITE["properties"], "qr_svg": STRING}), "made")},
                tag="contacts",
                body=INVITE_BODY,
            ),
        },
    }


def _memory_paths() -> dict[str, Schema]:
    prefix = "/api/v1/memory"
    entries = _json(obj({"entries": array(ref("Entry"))}))
    entry_id = _path("id", HEX64, "the entry's id (64 hex digits)")
    put_body = obj(
        {
            "text": STRING,
            "space": STRING,
            "topic": STRING,
            "tags": array(STRING),
            "metadata": {"type": "object"},
            "supersedes": HEX64,
        },
        optional=("space", "topic", "tags", "metadata", "supersedes"),
    )
    return {
        prefix: {
            "get": _op(
                "listMemory",
                "Live entries, newest first",
                {"200": entries},
                tag="memory",
                params=[
                    SPACE,
                    _query("limit", LIMIT, "at most this many"),
                    _query("before_ms", {"type": "integer", "minimum": 0}, "older than this"),
                ],
            ),
            "post": _op(
                "putMemory",
                "Write an entry (or replace one with supersedes)",
                {"201": _json(ref("Entry"), "written")},
                tag="memory",
                body=put_body,
            ),
        },
        prefix + "/search": {
            "get": _op(
                "searchMemory",
                "Live entries by words (BM25), meaning (vectors) or both (scores combined)",
                {
                    "200": _json(
                        obj(
                            {
                                "mode": {
                                    "type": "string",
                                    "enum": ["keyword", "semantic", "hybrid"],
                                },
                                "entries": array(ref("SearchHit")),
                            }
                        )
                    ),
                    "503": _json(ref("Error"), "search by meaning is off or its model failed"),
                },
                tag="memory",
                params=[
                    _query("q", {"type": "string", "minLength": 1}, "the words", required=True),
                    _query(
                        "mode",
                        {"type": "string", "enum": ["keyword", "semantic", "hybrid"]},
                        "how to rank (default hybrid)",
                    ),
                    SPACE,
                    _query("topic", STRING, "only entries with this topic"),
                    _query("tag", STRING, "only entries with this tag (repeatable: all of them)"),
                    _query("author", {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "author key"),
                    _query("since_ms", {"type": "integer", "minimum": 0}, "written at or after"),
                    _query("until_ms", {"type": "integer", "minimum": 0}, "written at or before"),
                    _query("limit", LIMIT, "at most this many"),
                ],
            )
        },
        prefix + "/sync": {
            "post": _op(
                "syncMemory",
                "Sync with every online contact now",
                {"200": _json(obj({"results": array(ref("SyncResult"))}))},
                tag="memory",
                params=[
                    _query("timeout", {"type": "integer", "minimum": 1, "maximum": 600}, "seconds")
                ],
            )
        },
        prefix + "/verify": {
            "get": _op(
                "verifyMemory",
                "Check every signature, chain link and the log",
                {"200": _json(ref("Verify"))},
                tag="memory",
            )
        },
        prefix + "/stats": {
            "get": _op(
                "memoryStats",
                "Counts per space, held entries, rejections, sync counters",
                {"200": _json(ref("MemoryStats"))},
                tag="memory",
            )
        },
        prefix + "/{id}": {
            "get": _op(
                "getMemory",
                "One entry and what replaced it",
                {"200": _json(ref("ShownEntry"))},
                tag="memory",
                params=[entry_id],
            ),
            "delete": _op(
                "deleteMemory",
                "Delete one of this node's entries (writes a tombstone)",
                {"201": _json(ref("Entry"), "the tombstone")},
                tag="memory",
                params=[entry_id],
            ),
        },
    }


def _round_paths() -> dict[str, Schema]:
    prefix = "/api/v1/rounds"
    round_id = _path("id", STRING, "the round id or a unique prefix")
    return {
        prefix: {
            "get": _op(
                "listRounds",
                "The newest rounds",
                {"200": _json(obj({"rounds": array(ref("RoundSummary"))}))},
                tag="rounds",
                params=[_query("limit", LIMIT, "at most this many")],
            ),
            "post": _op(
                "startRound",
                "Ask a question of the contacts' AIs (a convergence round)",
                {"201": _json(ref("RoundView"), "started")},
                tag="rounds",
                body=ref("RoundStart"),
            ),
        },
        prefix + "/{id}": {
            "get": _op(
                "showRound",
                "One round's view",
                {"200": _json(ref("RoundView"))},
                tag="rounds",
                params=[round_id],
            ),
            "delete": _op(
                "cancelRound",
                "End a running round this node asked (no result; 409 if it is not running)",
                {"200": _json(ref("RoundView"), "the cancelled round")},
                tag="rounds",
                params=[round_id],
            ),
        },
        prefix + "/{id}/follow": {
            "get": _op(
                "followRound",
                "The round's view now and at every change, one JSON object per line "
                "(application/x-ndjson), until the round is over",
                {
                    "200": {
                        "description": "a stream of RoundView objects, one per line",
                        "content": {"application/x-ndjson": {"schema": ref("RoundView")}},
                    }
                },
                tag="rounds",
                params=[round_id],
            )
        },
    }


EVENTS_DOC = (
    "A WebSocket. Each message is a JSON Event {type, at, data}. A new subscriber first gets a "
    "snapshot (status, peers, memory, and one round event per live round), then changes: "
    "status, peers, traffic (per-link byte deltas each second), memory, round. Browsers may "
    "pass the token as the `token` query parameter or as the subprotocol `bearer.<token>` "
    "(offer `gateway.events.v1` too, which the server then picks). A subscriber that falls "
    "256 events behind is closed with code 1013."
)


def _event_paths() -> dict[str, Schema]:
    op = _op(
        "events",
        "The event stream (WebSocket)",
        {"101": {"description": "switching to the WebSocket protocol"}},
        tag="events",
        params=[_query("token", STRING, "the API token (for browsers; else the header)")],
    )
    op["description"] = EVENTS_DOC
    op["security"] = [{"bearer": []}, {"queryToken": []}]
    return {"/api/v1/events": {"get": op}}


def _graphql_paths() -> dict[str, Schema]:
    answer = {
        "200": _json(
            obj(
                {"data": nullable(ANY_OBJECT), "errors": array(ANY_OBJECT)},
                optional=("data", "errors"),
                more=True,
            ),
            "GraphQL's answer: data and/or errors",
        )
    }
    body = obj({"query": STRING, "variables": ANY_OBJECT, "operationName": STRING},
               optional=("variables", "operationName"))  # fmt: skip
    summary = (
        "Read-only GraphQL over contacts, memory (with search) and rounds; no mutations "
        "(schema: POST {__schema {types {name}}})"
    )
    return {
        "/graphql": {
            "get": _op("graphqlGet", summary, answer, tag="graphql",
                       params=[_query("query", STRING, "the GraphQL query", required=True)]),
            "post": _op("graphqlPost", summary, answer, tag="graphql", body=body),
        }
    }  # fmt: skip


def _openai_paths() -> dict[str, Schema]:
    stream = {
        "description": "with stream: chat.completion.chunk events (text/event-stream), "
        "stage progress in delta.reasoning_content and in the `gateway` field, then the "
        "answer, then data: [DONE]",
        "content": {JSON: {"schema": ref("ChatCompletion")}, "text/event-stream": {}},
    }
    return {
        "/v1/models": {
            "get": _op(
                "listModels",
                "OpenAI-compatible: the one model, council",
                {"200": _json(ref("ModelList"))},
                tag="openai",
            )
        },
        "/v1/models/{model}": {
            "get": _op(
                "getModel",
                "OpenAI-compatible: one model (404 unless council)",
                {"200": _json(ref("Model"))},
                tag="openai",
                params=[_path("model", STRING, "the model id: council")],
            )
        },
        "/v1/chat/completions": {
            "post": _op(
                "chatCompletion",
                "OpenAI-compatible: a convergence round on the last user message; the "
                "synthesis as the answer (errors in OpenAI's shape)",
                {"200": stream},
                tag="openai",
                body=ref("ChatRequest"),
            )
        },
    }


def build() -> dict[str, Any]:
    """The document, built afresh."""
    paths = {
        **_node_paths(),
        **_contact_paths(),
        **_memory_paths(),
        **openapi_circles.paths(),
        **_round_paths(),
        **_event_paths(),
        **_dashboard_paths(),
        **_openai_paths(),
        **_graphql_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gateway local API",
            "version": VERSION,
            "description": "The running node's API: loopback TCP or a 0600 unix socket only. "
            "Errors are JSON {error: {code, message}}; clients are rate-limited (429).",
        },
        "servers": [{"url": "http://127.0.0.1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the token in <state>/api.token (made by gateway init)",
                },
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            },
            "schemas": copy.deepcopy(SCHEMAS | openapi_circles.SCHEMAS),
        },
    }


@functools.cache
def _cached() -> str:
    return json.dumps(build(), indent=2) + "\n"


def document() -> dict[str, Any]:
    """The document (a fresh copy, safe to change)."""
    result: dict[str, Any] = json.loads(_cached())
    return result


def text() -> str:
    """The document as the checked-in file holds it."""
    return _cached()


if __name__ == "__main__":
    sys.stdout.write(text())
