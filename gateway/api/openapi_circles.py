"""The circle routes' part of the OpenAPI document (paths and schemas)."""

from __future__ import annotations

from gateway.api.openapi_schemas import (
    BOOL,
    HEX64,
    INT,
    NUMBER,
    STRING,
    Schema,
    array,
    nullable,
    obj,
    ref,
)
from gateway.circle.ranks import RANK_BUCKETS

PREFIX = "/api/v1/circles"
JSON = "application/json"
RANK: Schema = {"type": "integer", "minimum": 0, "maximum": RANK_BUCKETS - 1}

DECISION = obj(
    {
        "kind": {
            "type": "string",
            "enum": [
                "add_member", "remove_member", "set_space", "tombstone", "record_answer",
                "rank_report",
            ],
        },
        "member": HEX64,
        "space": STRING,
        "policy": {"type": "string", "enum": ["open", "listed", "removed"]},
        "members": array(HEX64),
        "entry_id": HEX64,
        "round_id": HEX64,
        "answer_digest": HEX64,
        "members_hash": HEX64,
        "ranks": array(RANK),
    },
    optional=(
        "member", "space", "policy", "members", "entry_id", "round_id", "answer_digest",
        "members_hash", "ranks",
    ),
)  # fmt: skip

CIRCLE_SUMMARY = obj(
    {
        "id": HEX64,
        "name": STRING,
        "status": {"type": "string", "enum": ["pending", "joined", "unreadable"]},
        "members": array(HEX64),
        "last_executed": INT,
        "inviter": nullable(HEX64),
    }
)

CIRCLE = obj(
    {
        **CIRCLE_SUMMARY["properties"],
        "creator": HEX64,
        "checkpoint_interval": INT,
        "faults": array(
            obj(
                {
                    "member": HEX64,
                    "kind": STRING,
                    "detail": STRING,
                    "evidence": STRING,
                    "at": NUMBER,
                }
            )
        ),
        "replica": {
            **obj(
                {
                    "view": INT,
                    "active": BOOL,
                    "primary": HEX64,
                    "is_member": BOOL,
                    "config": array(HEX64),
                    "n": INT,
                    "f": INT,
                    "quorum": INT,
                    "last_executed": INT,
                    "stable_seq": INT,
                    "state_digest": HEX64,
                    "messages_sent": INT,
                    "order": {
                        **array(HEX64),
                        "description": "the primary order in force (view v: order[v mod n])",
                    },
                    "ranks": {
                        "type": "object",
                        "additionalProperties": RANK,
                        "description": "each member's agreed rank (0 leads) in force",
                    },
                }
            ),
            "type": ["object", "null"],
        },
        "spaces": array(obj({"name": STRING, "policy": STRING, "members": array(HEX64)})),
        "tombstones": array(HEX64),
        "answers": array(obj({"round_id": HEX64, "answer_digest": HEX64})),
    },
    optional=("spaces", "tombstones", "answers"),
)

LOG_ENTRY = obj(
    {
        "seq": INT,
        "kind": STRING,
        "proposer": nullable(HEX64),
        "applied": BOOL,
        "decision": {"type": "object"},
        "at": NUMBER,
    }
)

PROPOSAL = obj(
    {
        "kind": {
            "type": "string",
            "description": "add-member, remove-member, set-space, tombstone, record-answer "
            "(or with _)",
        },
        "member": {"type": "string", "description": "a contact's nickname or id; me"},
        "space": STRING,
        "policy": {"type": "string", "enum": ["open", "listed", "removed"]},
        "members": array(STRING),
        "entry": {"type": "string", "description": "an entry id or its first 8+ hex digits"},
        "round_id": HEX64,
        "answer_digest": HEX64,
        "answer": {"type": "string", "description": "the answer's text (hashed)"},
    },
    optional=(
        "member", "space", "policy", "members", "entry", "round_id", "answer_digest", "answer"
    ),
)  # fmt: skip

SCHEMAS: dict[str, Schema] = {
    "CircleSummary": CIRCLE_SUMMARY,
    "Circle": CIRCLE,
    "CircleLogEntry": LOG_ENTRY,
    "CircleDecision": DECISION,
    "CircleProposal": PROPOSAL,
}


def _json(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _op(
    op_id: str,
    summary: str,
    ok: dict[str, Schema],
    *,
    params: list[Schema] | None = None,
    body: Schema | None = None,
) -> Schema:
    responses = {**ok, "default": _json(ref("Error"), "an error (401, 400, 404, 413, 429...)")}
    out: Schema = {
        "operationId": op_id,
        "summary": summary,
        "tags": ["circles"],
        "responses": responses,
    }
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    return out


CIRCLE_PARAM: Schema = {
    "name": "circle",
    "in": "path",
    "required": True,
    "description": "the circle's local name, or the first 8+ hex digits of its id",
    "schema": STRING,
}


def _with_circle(op: Schema) -> Schema:
    op["parameters"] = [CIRCLE_PARAM, *op.get("parameters", [])]
    return op


def paths() -> dict[str, Schema]:
    circle = PREFIX + "/{circle}"
    create = obj(
        {
            "name": STRING,
            "members": array(STRING),
            "checkpoint_interval": {"type": "integer", "minimum": 1, "maximum": 256},
        },
        optional=("members", "checkpoint_interval"),
    )
    log_params: list[Schema] = [
        {
            "name": "after",
            "in": "query",
            "required": False,
            "description": "only sequence numbers above this",
            "schema": {"type": "integer", "minimum": 0},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "at most this many",
            "schema": {"type": "integer", "minimum": 1, "maximum": 10000},
        },
    ]
    return {
        PREFIX: {
            "get": _op(
                "listCircles",
                "The circles this node joined or was invited to; the service's message counters",
                {
                    "200": _json(
                        obj(
                            {
                                "circles": array(ref("CircleSummary")),
                                "counters": {"type": "object", "additionalProperties": INT},
                            }
                        )
                    )
                },
            ),
            "post": _op(
                "createCircle",
                "Create a circle of this node and contacts (their nodes get the genesis)",
                {"201": _json(ref("Circle"), "created")},
                body=create,
            ),
        },
        circle: {
            "get": _with_circle(
                _op(
                    "circleStatus",
                    "A circle's replica, state and faults",
                    {"200": _json(ref("Circle"))},
                )
            ),
        },
        circle + "/join": {
            "post": _with_circle(
                _op(
                    "joinCircle",
                    "Accept a pending invitation (a genesis a contact sent)",
                    {"200": _json(ref("Circle"))},
                    body=obj({"name": STRING}, optional=("name",)),
                )
            ),
        },
        circle + "/invite": {
            "post": _with_circle(
                _op(
                    "inviteToCircle",
                    "Send the circle's genesis to a contact now",
                    {"200": _json(obj({"contact": HEX64, "sent": BOOL}))},
                    body=obj({"contact": STRING}),
                )
            ),
        },
        circle + "/proposals": {
            "post": _with_circle(
                _op(
                    "proposeToCircle",
                    "Propose a decision (returns once the request is saved and sent)",
                    {
                        "202": _json(
                            obj({"circle": HEX64, "proposed": ref("CircleDecision")}), "proposed"
                        )
                    },
                    body=ref("CircleProposal"),
                )
            ),
        },
        circle + "/echo": {
            "post": _with_circle(
                _op(
                    "echoCircle",
                    "One broadcast round trip to the other members over the circle channel",
                    {
                        "200": _json(
                            obj(
                                {
                                    "seconds": nullable(NUMBER),
                                    "answered": array(HEX64),
                                    "missing": array(HEX64),
                                }
                            )
                        )
                    },
                    params=[
                        {
                            "name": "timeout",
                            "in": "query",
                            "required": False,
                            "description": "seconds to wait for the answers (1-120, default 30)",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 120},
                        }
                    ],
                )
            ),
        },
        circle + "/log": {
            "get": _with_circle(
                _op(
                    "circleLog",
                    "The decisions this node executed, in order (state_transfer: a jump)",
                    {"200": _json(obj({"entries": array(ref("CircleLogEntry"))}))},
                    params=log_params,
                )
            ),
        },
    }
