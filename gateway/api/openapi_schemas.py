"""JSON schemas of the local API's bodies (the ``components.schemas`` of its OpenAPI document)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
HEX64: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or null (OpenAPI 3.1: a type list)."""
    return {**schema, "type": [schema["type"], "null"]}


def obj(props: dict[str, Schema], *, optional: tuple[str, ...] = (), more: bool = False) -> Schema:
    """An object with ``props`` (all required but ``optional``); ``more``: other keys allowed."""
    out: Schema = {"type": "object", "properties": props, "additionalProperties": more}
    required = [k for k in props if k not in optional]
    if required:
        out["required"] = required
    return out


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


ANY_OBJECT: Schema = {"type": "object"}
COUNTS: Schema = {"type": "object", "additionalProperties": INT}

ERROR = obj(
    {
        "error": obj(
            {"code": STRING, "message": STRING, "type": STRING, "param": nullable(STRING)},
            optional=("type", "param"),  # the OpenAI-compatible routes add these
        )
    }
)

BOOTSTRAP = obj(
    {
        "progress": INT,
        "tag": STRING,
        "summary": STRING,
        "warning": nullable(STRING),
        "done": BOOL,
    }
)

STATUS = obj(
    {
        "level": {"type": "string", "enum": ["standard", "high", "paranoid"]},
        "tor": {
            "type": "string",
            "enum": ["starting", "bootstrapping", "publishing", "published", "down"],
        },
        "onion": nullable(STRING),
        "bootstrap": {"oneOf": [ref("Bootstrap"), {"type": "null"}]},
        "tor_restarts": INT,
        "link_counters": COUNTS,
        "link_opens": array(ANY_OBJECT),
    },
    optional=("level", "tor", "onion", "bootstrap", "tor_restarts"),
    more=True,
)

UNIT: Schema = {"type": "number", "minimum": 0, "maximum": 1}

REPUTATION = obj(
    {
        "score": {**UNIT, "description": "docs/REPUTATION.md; 0.5 for a contact without data"},
        "uptime": {**nullable(UNIT), "description": "link up / observed, over 24 h"},
        "observed_s": NUMBER,
        "rtt_ewma_ms": nullable(NUMBER),
        "rtt_p50_ms": nullable(NUMBER),
        "rtt_samples": INT,
        "sync_refusals": COUNTS,
        "round_faults": COUNTS,
        "pbft_faults": COUNTS,
        "clean": COUNTS,
        "components": obj({"availability": UNIT, "latency": UNIT, "conduct": UNIT}),
    }
)

PEER = obj(
    {
        "identity": STRING,
        "nickname": nullable(STRING),
        "onion": STRING,
        "state": STRING,
        "online": BOOL,
        "last_seen": nullable(NUMBER),
        "rtt_ms": nullable(NUMBER),
        "padding": STRING,
        "cover": STRING,
        "direction": {"type": ["string", "null"], "enum": ["in", "out", None]},
        "queued": INT,
        "payload_bytes": INT,
        "wire_bytes": INT,
        "dummies": INT,
        "reputation": {"oneOf": [ref("Reputation"), {"type": "null"}]},
    },
    optional=("reputation",),
)

MESSAGE = obj({"id": INT, "from": STRING, "received": NUMBER, "text": STRING})

ENTRY = obj(
    {
        "id": HEX64,
        "author": HEX64,
        "seq": INT,
        "prev": STRING,
        "timestamp_ms": INT,
        "kind": STRING,
        "target": nullable(STRING),
        "space": STRING,
        "topic": STRING,
        "tags": array(STRING),
        "body": STRING,
        "metadata": ANY_OBJECT,
    }
)

SHOWN_ENTRY = {"allOf": [ref("Entry"), obj({"replaced_by": nullable(STRING)}, more=True)]}

SEARCH_HIT = obj(
    {
        **ENTRY["properties"],
        "score": NUMBER,
        "match": obj(
            {
                "keyword_rank": nullable(INT),
                "semantic_rank": nullable(INT),
                "similarity": nullable(NUMBER),
            }
        ),
    }
)

MEMORY_STATS = obj(
    {
        "entries": INT,
        "spaces": {"type": "object", "additionalProperties": ANY_OBJECT},
        "held": INT,
        "log_size": INT,
        "rejections": COUNTS,
        "sync": COUNTS,
        "last_sync": {"type": "object", "additionalProperties": NUMBER},
    },
    more=True,
)

VERIFY = obj(
    {
        "ok": BOOL,
        "entries": INT,
        "bad_signatures": array(STRING),
        "broken_links": array(STRING),
        "log_problems": array(STRING),
    },
    more=True,
)

SYNC_RESULT = obj(
    {"peer": STRING, "ok": BOOL, "stored": INT, "refused": COUNTS, "error": nullable(STRING)}
)

_ROUND_FIELDS: dict[str, Schema] = {
    "round_id": STRING,
    "role": STRING,
    "question": STRING,
    "stage": nullable(STRING),
    "status": STRING,
    "created": NUMBER,
}

ROUND_SUMMARY = obj(_ROUND_FIELDS)

ROUND_VIEW = obj(
    {
        **_ROUND_FIELDS,
        "participants": array(ANY_OBJECT),
        "faults": array(ANY_OBJECT),
        "result": nullable(ANY_OBJECT),
    },
    optional=("participants", "faults", "result"),
    more=True,
)

ROUND_START = obj(
    {
        "question": {"type": "string", "minLength": 1},
        "participants": array(STRING),
        "subset": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
            "description": "ask only this many of the participants (default: every paired "
            "contact): the best-scored with a link up now (docs/REPUTATION.md)",
        },
        "times": obj(
            {
                s: {"type": "number", "exclusiveMinimum": 0}
                for s in ("answer", "reveal", "review", "synthesis")
            },
            optional=("answer", "reveal", "review", "synthesis"),
        ),
        "space": STRING,
        "context": {
            "oneOf": [
                {"type": "string", "enum": ["auto", "none"]},
                array({"type": "string", "pattern": "^[0-9a-f]{8,64}$"}),
            ],
            "description": "memory entries the question carries: the most relevant of the "
            "space (auto; the default when memory.council_context is on), none, or these ids",
        },
    },
    optional=("participants", "subset", "times", "space", "context"),
)

CONTACT = obj(
    {
        "id": HEX64,
        "nickname": nullable(STRING),
        "state": {"type": "string", "enum": ["pending", "paired"]},
        "onion": STRING,
        "static_key": STRING,
        "added_at": INT,
        "last_seen": nullable(INT),
        "client_auth_to_reach": BOOL,
        "client_auth_authorized": BOOL,
    }
)

INVITE = obj(
    {
        "invite": STRING,
        "link": STRING,
        "expires": INT,
        "expires_utc": STRING,
        "label": nullable(STRING),
        "nickname": nullable(STRING),
        "level": STRING,
        "post_quantum": BOOL,
        "client_auth": BOOL,
        "onion": STRING,
    }
)

PENDING_INVITE = obj(
    {
        "id": STRING,
        "created": INT,
        "expires": INT,
        "used_at": nullable(INT),
        "label": nullable(STRING),
        "client_auth": BOOL,
    }
)

EVENT = obj(
    {
        "type": {"type": "string", "enum": ["status", "peers", "traffic", "memory", "round"]},
        "at": NUMBER,
        "data": {},
    }
)

MODEL = obj({"id": STRING, "object": STRING, "created": INT, "owned_by": STRING})
MODEL_LIST = obj({"object": STRING, "data": array(ref("Model"))})
CHAT_MESSAGE = obj(
    {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {"anyOf": [STRING, array(ANY_OBJECT), {"type": "null"}]},
    },
    optional=("content",),
    more=True,
)
CHAT_REQUEST = obj(
    {
        "model": STRING,
        "messages": array(CHAT_MESSAGE),
        "stream": BOOL,
        "n": INT,
        "participants": array(STRING),
        "space": STRING,
        "times": ANY_OBJECT,
    },
    optional=("stream", "n", "participants", "space", "times"),
    more=True,  # OpenAI's other fields (temperature, max_tokens, user...) are accepted, unused
)
CHAT_COMPLETION = obj(
    {
        "id": STRING,
        "object": STRING,
        "created": INT,
        "model": STRING,
        "choices": array(ANY_OBJECT),
        "usage": COUNTS,
    }
)

SCHEMAS: dict[str, Schema] = {
    "Error": ERROR,
    "Model": MODEL,
    "ModelList": MODEL_LIST,
    "ChatRequest": CHAT_REQUEST,
    "ChatCompletion": CHAT_COMPLETION,
    "Bootstrap": BOOTSTRAP,
    "Status": STATUS,
    "Peer": PEER,
    "Reputation": REPUTATION,
    "Message": MESSAGE,
    "Entry": ENTRY,
    "ShownEntry": SHOWN_ENTRY,
    "SearchHit": SEARCH_HIT,
    "MemoryStats": MEMORY_STATS,
    "Verify": VERIFY,
    "SyncResult": SYNC_RESULT,
    "RoundSummary": ROUND_SUMMARY,
    "RoundView": ROUND_VIEW,
    "RoundStart": ROUND_START,
    "Contact": CONTACT,
    "Invite": INVITE,
    "PendingInvite": PENDING_INVITE,
    "Event": EVENT,
}
