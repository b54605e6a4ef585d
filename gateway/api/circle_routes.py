"""The local API's circle routes: list, create, status, join, invite, propose, log.

A circle in a path is its local name or the first 8+ hex digits of its id. Members are
contact nicknames (or identity keys in hex; ``me`` is this node).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.api.replies import json_error, read_json
from gateway.circle.decisions import DEFAULT_CHECKPOINT_INTERVAL, MAX_CHECKPOINT_INTERVAL
from gateway.errors import CircleStateError, ContactError, EntryError, StoreError
from gateway.node.circles import CircleService, parse_decision

PREFIX = "/api/v1/circles"
MAX_LOG = 10_000


class CircleRoutes:
    """Circle routes over a :class:`CircleService`.

    ``find_contact`` maps a nickname or id to an identity key (ContactError if none);
    ``resolve_entry`` maps an entry id or its 8+ first hex digits to the id.
    """

    def __init__(
        self,
        circles: CircleService,
        find_contact: Callable[[str], bytes],
        resolve_entry: Callable[[str], bytes],
    ) -> None:
        self.circles = circles
        self.find_contact = find_contact
        self.resolve_entry = resolve_entry

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(PREFIX, self._list)
        app.router.add_post(PREFIX, self._create)
        app.router.add_get(PREFIX + "/{circle}", self._status)
        app.router.add_post(PREFIX + "/{circle}/join", self._join)
        app.router.add_post(PREFIX + "/{circle}/invite", self._invite)
        app.router.add_post(PREFIX + "/{circle}/proposals", self._propose)
        app.router.add_get(PREFIX + "/{circle}/log", self._log)
        app.router.add_post(PREFIX + "/{circle}/echo", self._echo)

    # --- helpers -----------------------------------------------------------------------

    def member(self, text: str) -> bytes:
        """A contact's identity key by nickname or id; ``me``; or any key as 64 hex digits."""
        if text == "me":
            return self.circles.me
        try:
            return self.find_contact(text)
        except ContactError:
            pass
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise CircleStateError(f"{text[:80]!r} is neither a contact nor an identity key")
        return key

    def entry(self, text: str) -> bytes:
        try:
            return self.resolve_entry(text)
        except StoreError:
            try:
                key = bytes.fromhex(text)
            except ValueError:
                key = b""
            if len(key) == 32:
                return key  # an entry this node does not hold (yet)
            raise CircleStateError(f"no entry {text[:80]!r} (give its 64 hex digits)") from None
        except EntryError as exc:
            raise CircleStateError(f"entry: {exc}") from None

    def _circle(self, request: web.Request) -> bytes | web.Response:
        try:
            return self.circles.find(request.match_info["circle"])
        except CircleStateError as exc:
            return json_error(404, "not_found", str(exc))

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any] | web.Response:
        try:
            data = await read_json(request)
        except ValueError as exc:
            return json_error(400, "bad_request", f"expected a JSON object ({exc})")
        if not isinstance(data, dict):
            return json_error(400, "bad_request", "expected a JSON object")
        return data

    async def _body_and_circle(
        self, request: web.Request
    ) -> tuple[dict[str, Any], bytes] | web.Response:
        """The JSON object body, then the circle of the path (a malformed body is a 400
        whatever the path names)."""
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        circle = self._circle(request)
        if isinstance(circle, web.Response):
            return circle
        return data, circle

    # --- routes --------------------------------------------------------------------------

    async def _list(self, _: web.Request) -> web.Response:
        counters = dict(self.circles.counters)
        return web.json_response({"circles": self.circles.list_json(), "counters": counters})

    async def _create(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        unknown = set(data) - {"name", "members", "checkpoint_interval"}
        if unknown:
            return json_error(400, "bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
        name, members = data.get("name"), data.get("members", [])
        if not isinstance(name, str):
            raise CircleStateError('"name" is required: the circle\'s local name')
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise CircleStateError('"members" must be a list of contact names')
        interval = data.get("checkpoint_interval", DEFAULT_CHECKPOINT_INTERVAL)
        if (
            not isinstance(interval, int)
            or isinstance(interval, bool)
            or not 1 <= interval <= MAX_CHECKPOINT_INTERVAL
        ):
            raise CircleStateError(
                f"checkpoint_interval must be an integer from 1 to {MAX_CHECKPOINT_INTERVAL}"
            )
        keys = []
        for m in members:
            try:
                keys.append(self.circles.me if m == "me" else self.find_contact(m))
            except ContactError:
                raise CircleStateError(f"member {m[:80]!r} is not a contact") from None
        circle_id = await self.circles.create(name, keys, interval=interval)
        return web.json_response(await self.circles.status_json(circle_id), status=201)

    async def _status(self, request: web.Request) -> web.Response:
        circle = self._circle(request)
        if isinstance(circle, web.Response):
            return circle
        return web.json_response(await self.circles.status_json(circle))

    async def _join(self, request: web.Request) -> web.Response:
        parsed = await self._body_and_circle(request)
        if isinstance(parsed, web.Response):
            return parsed
        data, circle = parsed
        unknown = set(data) - {"name"}
        if unknown:
            return json_error(400, "bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise CircleStateError('"name" must be a string')
        await self.circles.join(circle, name)
        return web.json_response(await self.circles.status_json(circle))

    async def _invite(self, request: web.Request) -> web.Response:
        parsed = await self._body_and_circle(request)
        if isinstance(parsed, web.Response):
            return parsed
        data, circle = parsed
        contact = data.get("contact")
        if not isinstance(contact, str) or set(data) - {"contact"}:
            return json_error(400, "bad_request", 'expected JSON {"contact": "<name or id>"}')
        try:
            key = self.find_contact(contact)
        except ContactError as exc:
            raise CircleStateError(f"contact {contact[:80]!r}: {exc}") from None
        sent = await self.circles.invite(circle, key)
        return web.json_response({"contact": key.hex(), "sent": sent})

    async def _propose(self, request: web.Request) -> web.Response:
        parsed = await self._body_and_circle(request)
        if isinstance(parsed, web.Response):
            return parsed
        data, circle = parsed
        decision = parse_decision(data, self.member, self.entry)
        result = await self.circles.propose(circle, decision)
        return web.json_response(result, status=202)

    async def _echo(self, request: web.Request) -> web.Response:
        circle = self._circle(request)
        if isinstance(circle, web.Response):
            return circle
        timeout = _int(request, "timeout", 30, 1, 120)
        return web.json_response(await self.circles.echo(circle, float(timeout)))

    async def _log(self, request: web.Request) -> web.Response:
        circle = self._circle(request)
        if isinstance(circle, web.Response):
            return circle
        after = _int(request, "after", 0, 0, 1 << 62)
        limit = _int(request, "limit", 1000, 1, MAX_LOG)
        entries = await self.circles.log_json(circle, after=after, limit=limit)
        return web.json_response({"entries": entries})


def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise CircleStateError(f"{name} must be an integer from {lo} to {hi}")
    return value
