"""The local API's error reply: JSON ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from aiohttp import web


def json_error(status: int, code: str, message: str) -> web.Response:
    """An error reply with a stable ``code`` and a human ``message``."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
