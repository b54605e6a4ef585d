"""A read-only GraphQL endpoint over contacts, memory (with search) and rounds (strawberry).

``POST /graphql`` (or ``GET /graphql?query=...``), behind the API's token like every route.
There are no mutations (writes go through REST, the CLI or MCP), no subscriptions and no
GraphiQL page; queries deeper than ``MAX_DEPTH`` or with more than ``MAX_ALIASES`` aliases
are refused, and so are queries of more than ``MAX_TOKENS`` tokens (deep introspection).
Answers are GraphQL's own shape, ``{"data": ..., "errors": [...]}``; a request that is
not GraphQL at all (no query, a malformed body) gets the API's 400 ``bad_request``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import strawberry
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from gateway.api.graphql_mount import PATH
from gateway.api.replies import json_error, read_json
from gateway.contacts.book import Contact as BookContact
from gateway.contacts.book import ContactBook
from gateway.errors import GatewayError, RoundError, StoreError
from gateway.memory.ranking import Filters, Mode
from gateway.node.memops import MAX_LIST, MemoryService
from gateway.node.rounds import RoundsService

MAX_DEPTH = 6
MAX_ALIASES = 20
#: bounds introspection queries too (the depth limit does not count ``__schema`` fields)
MAX_TOKENS = 2000
MAX_LIMIT = 500
#: a ``topic``/``tags`` filter looks at this many of the newest (or best matching) entries
MAX_SCAN = MAX_LIST


@dataclass(frozen=True)
class Services:
    book: ContactBook
    memory: MemoryService
    rounds: RoundsService


def _services(info: strawberry.Info) -> Services:
    services: Services = info.context["services"]
    return services


def _limit(value: int) -> int:
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"limit must be from 1 to {MAX_LIMIT}")
    return value


@strawberry.type
class Contact:
    id: str
    nickname: str | None
    state: str
    onion: str
    added_at: int
    last_seen: int | None

    @staticmethod
    def of(c: BookContact) -> Contact:
        return Contact(
            id=c.id,
            nickname=c.nickname,
            state=c.state.value,
            onion=f"{c.onion_address}.onion",
            added_at=c.added_at,
            last_seen=c.last_seen,
        )


@strawberry.type
class Entry:
    id: str
    author: str
    seq: int
    timestamp_ms: float
    kind: str
    space: str
    topic: str
    tags: list[str]
    body: str
    metadata: str  # JSON text

    @staticmethod
    def of(e: Any) -> Entry:
        return Entry(
            id=e.id.hex(),
            author=e.author.hex(),
            seq=e.seq,
            timestamp_ms=float(e.timestamp_ms),
            kind=e.kind.value,
            space=e.space,
            topic=e.topic,
            tags=list(e.tags),
            body=e.body,
            metadata=json.dumps(e.metadata, sort_keys=True),
        )


@strawberry.type
class RankedAnswer:
    author: str | None
    author_id: str | None
    answer: str | None
    points: int


@strawberry.type
class Round:
    id: str
    role: str
    question: str
    status: str
    stage: str | None
    created: float
    synthesis: str | None
    ranked: list[RankedAnswer]
    faults: str  # JSON text: the recorded faults

    @staticmethod
    def of(view: dict[str, Any]) -> Round:
        result = view.get("result") or {}
        ranked = [
            RankedAnswer(
                author=(r.get("author") or {}).get("name"),
                author_id=(r.get("author") or {}).get("id"),
                answer=r.get("answer"),
                points=int(r.get("points") or 0),
            )
            for r in result.get("ranked") or []
        ]
        return Round(
            id=str(view.get("round_id")),
            role=str(view.get("role")),
            question=str(view.get("question") or ""),
            status=str(view.get("status")),
            stage=view.get("stage"),
            created=float(view.get("created") or 0),
            synthesis=result.get("text"),
            ranked=ranked,
            faults=json.dumps(view.get("faults") or []),
        )


def _contacts(info: strawberry.Info) -> list[Contact]:
    return [Contact.of(c) for c in _services(info).book.list()]


def _contact(info: strawberry.Info, name: str) -> Contact | None:
    try:
        return Contact.of(_services(info).book.find(name))
    except GatewayError:
        return None


async def _memory(
    info: strawberry.Info,
    search: str | None = None,
    space: str | None = None,
    topic: str | None = None,
    tags: list[str] | None = None,
    limit: int = 20,
    mode: str = "hybrid",
) -> list[Entry]:
    memory = _services(info).memory
    wanted = _limit(limit)
    if search is not None and search.strip():
        filters = Filters(space=space, topic=topic, tags=tuple(tags or ()))
        _, hits = await memory.find(search, mode=Mode.parse(mode), filters=filters, limit=wanted)
        return [Entry.of(h.entry) for h in hits]
    filtered = topic is not None or bool(tags)
    found = memory.recent(space=space, limit=MAX_SCAN if filtered else wanted)
    if filtered:
        need = set(tags or ())
        found = [e for e in found if topic in (None, e.topic) and need <= set(e.tags)]
    return [Entry.of(e) for e in found[:wanted]]


def _entry(info: strawberry.Info, id: str) -> Entry | None:
    memory = _services(info).memory
    try:
        found = memory.store.get(memory.resolve(id))
    except (StoreError, GatewayError):
        return None
    return None if found is None else Entry.of(found)


def _rounds(info: strawberry.Info, limit: int = 20) -> list[Round]:
    rounds = _services(info).rounds
    listed = rounds.store.list(_limit(limit))
    return [Round.of(rounds.view(bytes.fromhex(r["round_id"]))) for r in listed]


def _round(info: strawberry.Info, id: str) -> Round | None:
    rounds = _services(info).rounds
    try:
        return Round.of(rounds.view(rounds.store.find(id)))
    except RoundError:
        return None


@strawberry.type
class Query:
    contacts: list[Contact] = strawberry.field(resolver=_contacts, description="Every contact")
    contact: Contact | None = strawberry.field(
        resolver=_contact, description="One contact by nickname, id or a unique 8+ digit prefix"
    )
    memory: list[Entry] = strawberry.field(
        resolver=_memory,
        description=(
            "Memory entries: the newest, or those found for `search` by `mode` (hybrid, "
            "semantic or keyword); `topic` (exact) and `tags` (all of them) filter the "
            f"results (of the newest {MAX_SCAN} when there is no `search`)"
        ),
    )
    entry: Entry | None = strawberry.field(
        resolver=_entry, description="One memory entry by id (or a unique prefix of 8+ digits)"
    )
    rounds: list[Round] = strawberry.field(
        resolver=_rounds, description="The newest rounds, asked or answered"
    )
    round: Round | None = strawberry.field(
        resolver=_round, description="One round by id (or a unique prefix)"
    )


SCHEMA = strawberry.Schema(
    query=Query,
    extensions=[
        functools.partial(QueryDepthLimiter, max_depth=MAX_DEPTH),
        functools.partial(MaxAliasesLimiter, max_alias_count=MAX_ALIASES),
        functools.partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
    ],
)


class _View(GraphQLView[dict[str, Any], None]):
    def __init__(self, services: Services) -> None:
        super().__init__(SCHEMA, graphql_ide=None, allow_queries_via_get=True)
        self.services = services

    async def get_context(
        self, request: web.Request, response: web.Response | web.WebSocketResponse
    ) -> dict[str, Any]:
        return {"request": request, "response": response, "services": self.services}


class GraphQLRoutes:
    """``/graphql``: read-only queries over the node's services."""

    def __init__(self, book: ContactBook, memory: MemoryService, rounds: RoundsService) -> None:
        self.view = _View(Services(book, memory, rounds))

    def add_to(self, app: web.Application) -> None:
        app.router.add_route("GET", PATH, self.handle)
        app.router.add_route("POST", PATH, self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return web.json_response(
                {"errors": [{"message": "subscriptions are not served"}]}, status=400
            )
        if request.method == "POST":
            try:  # the API's own reader: depth-checked, UTF-8, size-bounded
                data = await read_json(request)
            except ValueError:
                return json_error(400, "bad_request", "expected a JSON body")
            if not isinstance(data, dict) or not isinstance(data.get("query"), str):
                return json_error(400, "bad_request", 'expected JSON {"query": "...", ...}')
        elif not request.query.get("query", "").strip():
            return json_error(400, "bad_request", "expected the GraphQL query in ?query=")
        response = await self.view(request)
        if response.status >= 400 and response.content_type != "application/json":
            text = response.text if isinstance(response, web.Response) else None
            message = text or response.reason or f"HTTP {response.status}"
            return json_error(400, "bad_request", f"not a GraphQL request: {message}")
        return response
