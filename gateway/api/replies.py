"""The local API's error reply (JSON ``{"error": {"code": ..., "message": ...}}``) and the one
reader of request bodies, so that no malformed body can be anything but a 400 or a 413."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_error(status: int, code: str, message: str) -> web.Response:
    """An error reply with a stable ``code`` and a human ``message``."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class BadBody(ValueError):
    """A request body that is not UTF-8 JSON (what was wrong is the message)."""


async def read_json(request: web.Request) -> Any:
    """The request's body as JSON; BadBody (a ValueError) for any malformed body.

    JSON nested deeper than the interpreter's recursion limit is malformed too: decoding
    it raised RecursionError, which reached the error middleware as a 500 with a
    traceback in the log. A body over the app's size limit raises aiohttp's 413, which
    the error middleware answers as ``request_entity_too_large``.
    """
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadBody(f"the body is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise BadBody("the body's JSON is nested too deeply") from None
