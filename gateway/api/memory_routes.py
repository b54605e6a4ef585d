"""The local API's memory routes: put, get, delete, list, search, sync, verify, stats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from gateway.api.replies import json_error, read_json
from gateway.errors import EmbeddingError, EntryError, StoreError
from gateway.memory.hub import SyncFinished
from gateway.memory.ranking import Filters, Mode, SearchHit
from gateway.node.memops import MAX_LIST, MemoryService, entry_json

PREFIX = "/api/v1/memory"
MAX_SYNC_TIMEOUT = 600.0


def _int(request: web.Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise EntryError("malformed", f"{name} must be an integer from {lo} to {hi}")
    return value


def _str_list(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EntryError("malformed", f'"{name}" must be a list of strings')
    return list(value)


def search_filters(query: Mapping[str, str] | MultiMapping[str]) -> Filters:
    """The filters of a search request: space, topic, tag (repeatable), author (hex),
    since_ms, until_ms."""
    author = query.get("author")
    tags: list[str] = []
    if isinstance(query, MultiMapping):
        tags = [str(t) for t in query.getall("tag", [])]
    elif query.get("tag"):
        tags = [str(query["tag"])]
    try:
        author_key = bytes.fromhex(author) if author else None
    except ValueError:
        author_key = b""
    if author_key is not None and len(author_key) != 32:
        raise EntryError("malformed", "author is an identity key: 64 hex digits")
    return Filters(
        space=query.get("space") or None,
        topic=query.get("topic") or None,
        tags=tuple(tags),
        author=author_key,
        since_ms=_ms(query.get("since_ms"), "since_ms"),
        until_ms=_ms(query.get("until_ms"), "until_ms"),
    )


def _ms(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 62:
        raise EntryError("malformed", f"{name} must be a time in milliseconds since 1970")
    return value


def hit_json(hit: SearchHit) -> dict[str, Any]:
    """A search result: the entry, its score, and its rank in each ranking."""
    return {
        **entry_json(hit.entry),
        "score": hit.score,
        "match": {
            "keyword_rank": hit.keyword_rank,
            "semantic_rank": hit.semantic_rank,
            "similarity": hit.similarity,
        },
    }


def sync_json(result: SyncFinished) -> dict[str, Any]:
    """One sync result as JSON."""
    return {
        "peer": result.peer.hex(),
        "ok": result.error is None,
        "stored": result.stored,
        "refused": result.refused,
        "error": result.error,
    }


class MemoryRoutes:
    """Memory routes over a :class:`MemoryService`."""

    def __init__(self, memory: MemoryService) -> None:
        self.memory = memory

    def add_to(self, app: web.Application) -> None:
        app.router.add_post(PREFIX, self._put)
        app.router.add_get(PREFIX, self._list)
        app.router.add_get(PREFIX + "/search", self._search)
        app.router.add_post(PREFIX + "/sync", self._sync)
        app.router.add_get(PREFIX + "/verify", self._verify)
        app.router.add_get(PREFIX + "/stats", self._stats)
        app.router.add_get(PREFIX + "/{id}", self._get)
        app.router.add_delete(PREFIX + "/{id}", self._delete)

    async def _put(self, request: web.Request) -> web.Response:
        try:
            data = await read_json(request)
        except ValueError:
            return json_error(400, "bad_request", "expected a JSON object")
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return json_error(400, "bad_request", 'expected JSON {"text": "...", ...}')
        unknown = set(data) - {"text", "space", "topic", "tags", "metadata", "supersedes"}
        if unknown:
            return json_error(400, "bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
        metadata = data.get("metadata")
        metadata = {} if metadata is None else metadata
        if not isinstance(metadata, dict):
            raise EntryError("malformed", '"metadata" must be a JSON object')
        space, topic = data.get("space", "default"), data.get("topic", "")
        if not isinstance(space, str) or not isinstance(topic, str):
            raise EntryError("malformed", '"space" and "topic" must be strings')
        supersedes = data.get("supersedes")
        if supersedes is not None and not isinstance(supersedes, str):
            raise EntryError("malformed", '"supersedes" must be an entry id')
        entry = await self.memory.write(
            data["text"],
            space=space,
            topic=topic,
            tags=_str_list(data.get("tags", []), "tags"),
            metadata=metadata,
            supersedes=self.memory.resolve(supersedes) if supersedes is not None else None,
        )
        return web.json_response(entry_json(entry), status=201)

    async def _get(self, request: web.Request) -> web.Response:
        try:
            entry_id = self.memory.resolve(request.match_info["id"])
            return web.json_response(self.memory.get(entry_id))
        except StoreError as exc:
            return json_error(404, "not_found", str(exc))

    async def _delete(self, request: web.Request) -> web.Response:
        try:
            entry = self.memory.delete(self.memory.resolve(request.match_info["id"]))
        except StoreError as exc:
            return json_error(404, "not_found", str(exc))
        return web.json_response(entry_json(entry), status=201)

    async def _list(self, request: web.Request) -> web.Response:
        entries = self.memory.recent(
            space=request.query.get("space"),
            limit=_int(request, "limit", 50, 1, MAX_LIST) or 50,
            before_ms=_int(request, "before_ms", None, 0, 1 << 62),
        )
        return web.json_response({"entries": [entry_json(e) for e in entries]})

    async def _search(self, request: web.Request) -> web.Response:
        text = request.query.get("q", "")
        if not text.strip():
            return json_error(400, "bad_request", "q (the words to search for) is required")
        mode = Mode.parse(request.query.get("mode", "hybrid"))
        try:
            used, hits = await self.memory.find(
                text,
                mode=mode,
                filters=search_filters(request.query),
                limit=_int(request, "limit", 20, 1, MAX_LIST) or 20,
            )
        except EmbeddingError as exc:
            return json_error(503, "embedding_unavailable", str(exc))
        return web.json_response({"mode": used.value, "entries": [hit_json(h) for h in hits]})

    async def _sync(self, request: web.Request) -> web.Response:
        timeout = _int(request, "timeout", 60, 1, int(MAX_SYNC_TIMEOUT)) or 60
        results = await self.memory.sync_now(float(timeout))
        return web.json_response({"results": [sync_json(r) for r in results]})

    async def _verify(self, _: web.Request) -> web.Response:
        return web.json_response(await self.memory.verify())

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response(self.memory.stats())
