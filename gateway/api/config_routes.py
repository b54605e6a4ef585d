"""``GET /api/v1/config``: the node's effective configuration, read-only and without secrets."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gateway.config.effective import dump_effective, overridden_keys
from gateway.config.schema import GatewayConfig

PATH = "/api/v1/config"
REDACTED = "<redacted>"
#: keys whose values are never shown (a ``*_env`` key names a variable: that is shown)
_SECRET = re.compile(r"(password|passphrase|secret|token|api_key|private)", re.IGNORECASE)


def redact(value: Any, key: str = "") -> Any:
    """``value`` with the values of secret-looking keys replaced by ``<redacted>``."""
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if value is not None and _SECRET.search(key) and not key.endswith("_env"):
        return REDACTED
    return value


def config_json(cfg: GatewayConfig) -> dict[str, Any]:
    """The effective settings and which of them the YAML overrode."""
    return {
        "config": redact(dump_effective(cfg)),
        "overridden": sorted(overridden_keys(cfg)),
    }


class ConfigRoutes:
    """The read-only configuration route (no route changes the configuration)."""

    def __init__(self, cfg: GatewayConfig) -> None:
        self._body = config_json(cfg)

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(PATH, self._config)

    async def _config(self, _: web.Request) -> web.Response:
        return web.json_response(self._body)
