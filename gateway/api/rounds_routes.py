"""The local API's convergence routes: start a round, list rounds, show one."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.api.replies import json_error, read_json
from gateway.contacts.book import ContactBook
from gateway.errors import RoundError
from gateway.node.rounds import RoundsService

if TYPE_CHECKING:
    from gateway.converge.round import StageTimes

PREFIX = "/api/v1/rounds"
STAGES = ("answer", "reveal", "review", "synthesis")


def times_from(value: object) -> StageTimes | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - set(STAGES):
        raise RoundError(f'"times" must be an object with seconds for {", ".join(STAGES)}')
    for name, seconds in value.items():
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise RoundError(f'"times.{name}" must be a number of seconds')
        if isinstance(seconds, int) and abs(seconds) > 10**9:  # float() would overflow
            raise RoundError(f'"times.{name}" is out of range')
    from gateway.converge.round import StageTimes  # with the first round, as the node's

    return StageTimes(**{k: float(v) for k, v in value.items()})


class RoundsRoutes:
    """Convergence routes over a :class:`RoundsService` and the contact book."""

    def __init__(self, rounds: RoundsService, book: ContactBook) -> None:
        self.rounds = rounds
        self.book = book

    def add_to(self, app: web.Application) -> None:
        app.router.add_post(PREFIX, self._start)
        app.router.add_get(PREFIX, self._list)
        app.router.add_get(PREFIX + "/{id}", self._show)
        app.router.add_delete(PREFIX + "/{id}", self._cancel)
        app.router.add_get(PREFIX + "/{id}/follow", self._follow)

    async def _start(self, request: web.Request) -> web.Response:
        try:
            data = await read_json(request)
        except ValueError:
            return json_error(400, "bad_request", "expected a JSON object")
        if not isinstance(data, dict) or not isinstance(data.get("question"), str):
            return json_error(400, "bad_request", 'expected JSON {"question": "...", ...}')
        unknown = set(data) - {"question", "participants", "subset", "times", "space", "context"}
        if unknown:
            return json_error(400, "bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
        names = data.get("participants")
        if names is None:
            peers = [c.identity for c in self.book.list() if c.state.value == "paired"]
        elif isinstance(names, list) and all(isinstance(n, str) for n in names):
            peers = [self.book.find(n).identity for n in names]
        else:
            return json_error(400, "bad_request", '"participants" must be a list of contact names')
        subset = data.get("subset")
        if subset is not None and (
            isinstance(subset, bool) or not isinstance(subset, int) or not 1 <= subset <= 1000
        ):
            return json_error(400, "bad_request", '"subset" must be an integer from 1 to 1000')
        space = data.get("space", "default")
        if not isinstance(space, str):
            return json_error(400, "bad_request", '"space" must be the name of a memory space')
        context = data.get("context")
        if context is not None and not (
            context in ("auto", "none")
            or (isinstance(context, list) and all(isinstance(c, str) for c in context))
        ):
            return json_error(
                400, "bad_request", '"context" is "auto", "none" or a list of entry ids'
            )
        peers = self.rounds.choose(peers, subset)
        rid = await self.rounds.ask_with_context(
            data["question"], peers, times_from(data.get("times")), space, context
        )
        if subset is not None:
            self.rounds.views[rid]["subset"] = subset
        return web.json_response(self.rounds.view(rid), status=201)

    async def _list(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return json_error(400, "bad_request", "limit must be an integer from 1 to 1000")
        return web.json_response({"rounds": self.rounds.store.list(limit)})

    async def _show(self, request: web.Request) -> web.Response:
        rid = self._find(request)
        if isinstance(rid, web.Response):
            return rid
        view: dict[str, Any] = self.rounds.view(rid)
        return web.json_response(view)

    def _find(self, request: web.Request) -> bytes | web.Response:
        """The round the path names, or a 404 answer."""
        try:
            return self.rounds.store.find(request.match_info["id"])
        except RoundError as exc:
            return json_error(404, "not_found", str(exc))

    async def _cancel(self, request: web.Request) -> web.Response:
        rid = self._find(request)
        if isinstance(rid, web.Response):
            return rid
        try:
            view = self.rounds.cancel(rid)
        except RoundError as exc:
            return json_error(409, "conflict", str(exc))
        return web.json_response(view)

    async def _follow(self, request: web.Request) -> web.StreamResponse:
        """The round's view as NDJSON: now, then at every change, until it is over."""
        rid = self._find(request)
        if isinstance(rid, web.Response):
            return rid
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        async for view in self.rounds.follow(rid):
            await response.write(json.dumps(view).encode() + b"\n")
        await response.write_eof()
        return response
