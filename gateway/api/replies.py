"""The local API's error reply (JSON ``{"error": {"code": ..., "message": ...}}``) and the one
reader of request bodies, so that no malformed body can be anything but a 400 or a 413."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web


def json_error(status: int, code: str, message: str) -> web.Response:
    """An error reply with a stable ``code`` and a human ``message``."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class BadBody(ValueError):
    """A request body that is not UTF-8 JSON (what was wrong is the message)."""


#: the deepest JSON nesting a body may have (the API's own documents nest 4 deep)
MAX_DEPTH = 64
#: a JSON string (skipped) or a bracket (counted), for the depth check
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(text: str) -> int:
    """How deep ``text``'s brackets nest, strings skipped (linear, no recursion)."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        bracket = match.group()
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in "]}":
            depth -= 1
    return deepest


async def read_json(request: web.Request) -> Any:
    """The request's body as JSON; BadBody (a ValueError) for any malformed body.

    JSON nested deeper than :data:`MAX_DEPTH` is refused before it is decoded: the
    decoder recurses, and 100,000 nested brackets raised RecursionError, which reached
    the error middleware as a 500 with a traceback (and can leave CPython 3.11's
    compiler unusable afterwards). A body over the app's size limit raises aiohttp's
    413, which the error middleware answers as ``request_entity_too_large``.
    """
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"the body is not UTF-8 (byte {exc.start})") from None
    if (text.count("[") + text.count("{") > MAX_DEPTH) and json_depth(text) > MAX_DEPTH:
        raise BadBody(f"the body's JSON nests more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadBody(f"the body is not JSON: {exc.msg} at line {exc.lineno}") from None
