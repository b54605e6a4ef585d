"""``GET /api/v1/config``: the effective configuration, read-only, secrets redacted."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from gateway.api.config_routes import REDACTED, config_json, redact
from gateway.config.effective import dump_effective
from tests.unit.api.nodeapp import build


def test_redact_secret_keys_keep_names_of_variables() -> None:
    data = {
        "control": {"password": "hunter2", "password_env": "TOR_PW", "port": 9051},
        "adapters": [{"api_key": "sk-1", "url": "http://x"}],
        "token": None,
    }
    assert redact(data) == {
        "control": {"password": REDACTED, "password_env": "TOR_PW", "port": 9051},
        "adapters": [{"api_key": REDACTED, "url": "http://x"}],
        "token": None,
    }


async def test_config_route_is_the_effective_config(tmp_path: Path) -> None:
    node = build(tmp_path / "alice", level="high")
    auth = {"Authorization": f"Bearer {node.token}"}
    try:
        async with TestClient(TestServer(node.app)) as client:
            resp = await client.get("/api/v1/config", headers=auth)
            body = await resp.json()
            assert resp.status == 200 and body == config_json(node.cfg)
            assert body["config"] == dump_effective(node.cfg)  # nothing secret in it today
            assert body["config"]["security"]["level"] == "high"
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                refused = await client.request(method, "/api/v1/config", headers=auth, json={})
                assert refused.status == 405, method
                assert (await refused.json())["error"]["code"] == "method_not_allowed"
    finally:
        await node.close()
