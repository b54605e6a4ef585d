"""The dashboard's routes, and its page in headless chromium against a fake API.

The fake API speaks the real contract (bearer REST under /api/v1/, the event
WebSocket with the ``bearer.<token>`` subprotocol) so the page's script is
tested both live over events and with the socket missing (REST polling only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from gateway.api.dashboard import DashboardRoutes, content_security_policy, static_files
from gateway.api.server import LocalApi
from tests.needs import need_chromium

TOKEN = "tok-EN_0123456789abcdefghijklmnopqrstuvwxyzAB"
HOSTILE = '<img src=x id="pwned">bob'
STATIC = Path(static_files())  # type: ignore[arg-type]


# --- the routes --------------------------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    DashboardRoutes().add_to(app)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_the_page_is_served_with_a_strict_policy(client: TestClient[Any, Any]) -> None:
    reply = await client.get("/dashboard")
    assert reply.status == 200
    assert reply.content_type == "text/html"
    html = await reply.text()
    assert 'id="token"' in html and 'type="password"' in html
    policy = reply.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert f"connect-src 'self' ws://{client.host}:{client.port}" in policy
    assert "frame-ancestors 'none'" in policy
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get("/dashboard/")).status == 200


@pytest.mark.parametrize(
    ("name", "kind"),
    [("app.js", "text/javascript"), ("chart.js", "text/javascript"), ("dashboard.css", "text/css")],
)
async def test_static_files_are_served(client: TestClient[Any, Any], name: str, kind: str) -> None:
    reply = await client.get(f"/dashboard/static/{name}")
    assert reply.status == 200
    assert reply.content_type == kind
    assert await reply.read() == (STATIC / name).read_bytes()
    assert "default-src 'self'" in reply.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/static/..%2Fdashboard.py",
        "/dashboard/static/%2e%2e%2fserver.py",
        "/dashboard/static/..%5C__init__.py",
        "/dashboard/static/.hidden.js",
        "/dashboard/static/index.html",  # only scripts, styles and images by name
        "/dashboard/static/missing.js",
        "/dashboard/static/APP.JS",
        "/dashboard/static/",
        "/dashboard/../gateway/api/dashboard.py",
    ],
)
async def test_anything_else_is_not_found(client: TestClient[Any, Any], path: str) -> None:
    reply = await client.get(path)
    assert reply.status == 404
    assert b"import" not in await reply.read()


async def test_the_api_serves_the_page_without_the_token_and_nothing_else() -> None:
    api = LocalApi(cast(Any, None), cast(Any, None), dict, [DashboardRoutes()])
    async with TestClient(TestServer(api.app(TOKEN))) as c:
        assert (await c.get("/dashboard")).status == 200
        assert (await c.get("/dashboard/static/app.js")).status == 200
        assert (await c.get("/dashboard/static/nothing.js")).status == 404
        assert (await c.get("/api/v1/status")).status == 401
        assert (await c.get("/dashboardx")).status == 401


def test_an_odd_host_header_is_not_echoed_into_the_policy() -> None:
    policy = content_security_policy("evil.example'; script-src *")
    assert "script-src" not in policy
    assert "connect-src 'self' ws:;" in policy
    assert "ws://[::1]:8080" in content_security_policy("[::1]:8080")


def test_the_page_loads_nothing_from_elsewhere() -> None:
    files = sorted(STATIC.iterdir())
    assert {f.name for f in files} >= {"index.html", "app.js", "dashboard.css"}
    for file in files:
        text = file.read_text()
        urls = set(re.findall(r"\b(?:https?:)?//[A-Za-z0-9.-]+", text)) - {"http://www.w3.org"}
        assert not urls, f"{file.name} refers to {urls}"
        for ref in re.findall(r'(?:src|href)="([^"]+)"', text):
            assert ref.startswith("/dashboard/static/"), ref
            assert (STATIC / ref.rsplit("/", 1)[1]).is_file(), ref
        for module in re.findall(r'from "\./([^"]+)"', text):
            assert (STATIC / module).is_file(), module


# --- a fake node API ---------------------------------------------------------------------


class FakeNode:
    """Status, peers, memory and rounds as the real API shapes them; rounds run on a timer."""

    def __init__(self, *, events: bool) -> None:
        self.events = events
        self.sockets: list[web.WebSocketResponse] = []
        self.protocols: list[str] = []
        self.posted: list[dict[str, Any]] = []
        self.view: dict[str, Any] | None = None
        self.sent = 700_000  # link bytes so far (~97 KiB before the page opened); grows

    def app(self) -> web.Application:
        @web.middleware
        async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.path.startswith("/dashboard") or request.path == "/api/v1/events":
                return await handler(request)  # type: ignore[no-any-return]
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"error": {"code": "unauthorized"}}, status=401)
            return await handler(request)  # type: ignore[no-any-return]

        app = web.Application(middlewares=[auth])
        DashboardRoutes().add_to(app)
        app.router.add_get("/api/v1/status", self._status)
        app.router.add_get("/api/v1/peers", self._peers)
        app.router.add_get("/api/v1/memory/stats", self._memory)
        app.router.add_get("/api/v1/rounds", self._rounds)
        app.router.add_post("/api/v1/rounds", self._start)
        app.router.add_get("/api/v1/rounds/{id}", self._show)
        if self.events:
            app.router.add_get("/api/v1/events", self._events)
        return app

    def status(self) -> dict[str, Any]:
        bootstrap = {"progress": 100, "tag": "done", "summary": "Done", "warning": None}
        return {"tor": "published", "onion": "a" * 56 + ".onion", "bootstrap": bootstrap}

    def peers(self) -> list[dict[str, Any]]:
        self.sent = min(self.sent + 700, 735_000)  # at most 105,000 B of payload, however slow
        return [
            {"identity": "b1" * 32, "nickname": HOSTILE, "onion": "b" * 56, "state": "paired",
             "online": True, "last_seen": time.time(), "rtt_ms": 812.5, "padding": "constant",
             "cover": "on", "direction": "out", "queued": 0,
             "payload_bytes": self.sent // 7, "wire_bytes": self.sent},
        ]  # fmt: skip

    def memory(self) -> dict[str, Any]:
        return {"entries": 3, "spaces": {"default": {"entries": 3, "shared_with_all": True}},
                "held": 0, "log_size": 3, "rejections": {}, "sync": {"rounds_ok": 2},
                "last_sync": {"b1" * 32: time.time()}}  # fmt: skip

    async def _status(self, _: web.Request) -> web.Response:
        return web.json_response(self.status())

    async def _peers(self, _: web.Request) -> web.Response:
        return web.json_response({"peers": self.peers()})

    async def _memory(self, _: web.Request) -> web.Response:
        return web.json_response(self.memory())

    async def _rounds(self, _: web.Request) -> web.Response:
        return web.json_response({"rounds": [self.view] if self.view else []})

    async def _show(self, _: web.Request) -> web.Response:
        return web.json_response(self.view)

    async def _start(self, request: web.Request) -> web.Response:
        self.posted.append(await request.json())
        self.view = {
            "round_id": "ab" * 32, "role": "asker", "asker": "cd" * 32,
            "question": self.posted[-1]["question"], "created": time.time(),
            "participants": [{"id": "b1" * 32, "name": "bob"}, {"id": "cd" * 32,
                             "name": "(this node)"}],
            "stage": "commit", "stages": [], "status": "running", "peers": {}, "faults": [],
            "ai": [], "result": None,
        }  # fmt: skip
        asyncio.get_running_loop().create_task(self._run_round())
        return web.json_response(self.view, status=201)

    async def _run_round(self) -> None:
        assert self.view is not None
        for stage in ("reveal", "review", "synthesis", "done"):
            await asyncio.sleep(0.3)
            self.view["stage"] = stage
            self.view["stages"].append({"stage": stage, "at": time.time()})
            self.view["peers"].setdefault("b1" * 32, []).append(stage)
            if stage == "review":
                self.view["faults"].append(
                    {
                        "peer": "ef" * 32,
                        "stage": "commit",
                        "kind": "timeout",
                        "detail": "",
                        "name": "carol",
                    }
                )
            if stage == "done":
                self.view["status"] = "ok"
                self.view["result"] = {
                    "text": "42", "status": "ok", "chair": "b1" * 32, "cited": [], "faults": [],
                    "ranked": [{"commitment": "99" * 32, "points": 3, "ballots": 2,
                                "answer": "42", "author": {"id": "b1" * 32, "name": "bob"}}],
                }  # fmt: skip
            await self.broadcast("round", self.view)

    async def broadcast(self, kind: str, data: Any) -> None:
        message = json.dumps({"type": kind, "at": time.time(), "data": data})
        for ws in list(self.sockets):
            with contextlib.suppress(ConnectionError):
                await ws.send_str(message)

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        ws = web.WebSocketResponse(protocols=("gateway.events.v1",))
        if f"bearer.{TOKEN}" not in [p.strip() for p in offered.split(",")]:
            raise web.HTTPUnauthorized()
        await ws.prepare(request)
        self.protocols.append(offered)
        self.sockets.append(ws)
        await ws.send_json({"type": "status", "at": time.time(), "data": self.status()})
        await ws.send_json({"type": "peers", "at": time.time(), "data": {"peers": self.peers()}})
        await ws.send_json({"type": "memory", "at": time.time(), "data": self.memory()})
        ticker = asyncio.get_running_loop().create_task(self._traffic(ws))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    break
        finally:
            ticker.cancel()
            self.sockets.remove(ws)
        return ws

    async def _traffic(self, ws: web.WebSocketResponse) -> None:
        for n in range(1, 301):  # 30 s at most: a page that has not drawn by then has failed
            if ws.closed:
                break
            link = {"identity": "b1" * 32, "nickname": HOSTILE, "payload_bytes": 10 + n % 5,
                    "wire_bytes": 410, "padding_bytes": 400 - n % 5, "dummies": 0}  # fmt: skip
            data = {"interval": 0.1, "links": [link]}
            with contextlib.suppress(ConnectionError):
                await ws.send_json({"type": "traffic", "at": time.time(), "data": data})
            await asyncio.sleep(0.1)


# --- the page in chromium ----------------------------------------------------------------


async def drive(node: FakeNode, query: str) -> dict[str, Any]:
    """Log in (a wrong token first), start a round, return what the page showed."""
    from playwright.async_api import async_playwright, expect

    chromium = need_chromium()
    async with TestServer(node.app()) as server, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"http://127.0.0.1:{server.port}/dashboard{query}")
            await expect(page.locator("#dashboard")).to_be_hidden()
            # the node served the page, so it runs: not a red "offline" before the token
            before_login = await page.text_content("#connection")
            await page.fill("#token", "wrong")
            await page.click("#login-button")
            await expect(page.locator("#login-error")).to_contain_text("refused")
            await page.fill("#token", TOKEN)
            await page.click("#login-button")
            await expect(page.locator("#login")).to_be_hidden()
            row = page.locator('[data-testid="peer-row"]')
            await expect(row).to_have_attribute("data-online", "true")
            await expect(page.locator("#bootstrap-percent")).to_have_text("100%")
            onion = page.locator("#onion-address")
            await expect(onion).to_be_hidden()
            await page.click("#onion-reveal")
            await expect(onion).to_have_text("a" * 56 + ".onion")
            await page.fill("#round-question", "Compute 17 + 25.")
            await page.fill("#time-answer", "20")
            await page.click("#round-start")
            await expect(page.locator("#round")).to_have_attribute("data-status", "ok")
            listed = page.locator('[data-testid="round-row"]')
            await expect(listed).to_have_count(1)
            await expect(listed).to_contain_text("Compute 17 + 25.")
            await expect(listed).to_contain_text("ok")
            chart = page.locator('[data-testid="traffic-chart"]')
            await expect(chart).not_to_have_attribute("data-points", re.compile(r"^[01]$"))
            return {
                "errors": errors,
                "answer": await page.text_content("#round-answer"),
                "stages": await page.locator("#round-stages li.done").all_text_contents(),
                "faults": await page.text_content("#round-faults"),
                "ranked": await page.text_content("#round-ranked"),
                "peer": await row.text_content(),
                "injected": await page.locator("#pwned").count(),
                "points": int(await chart.get_attribute("data-points") or 0),
                "padding": await chart.locator("path.padding").count(),
                "connection": await page.text_content("#connection"),
                "before_login": before_login,
                "caption": await chart.locator("figcaption").text_content(),
                "stored": await page.evaluate("sessionStorage.getItem('gateway.token')"),
                "memory": await page.text_content("#memory-entries"),
            }
        finally:
            await browser.close()


def check_common(shown: dict[str, Any], node: FakeNode) -> None:
    assert shown["errors"] == []
    assert node.posted == [{"question": "Compute 17 + 25.", "space": "default",
                            "times": {"answer": 20}}]  # fmt: skip
    assert shown["answer"] == "42"
    assert [s.split()[0] for s in shown["stages"]] == ["commit", "reveal", "review", "synthesis",
                                                       "done"]  # fmt: skip
    assert "carol timeout" in shown["faults"]
    assert "3 pts" in shown["ranked"] and "bob" in shown["ranked"]
    assert HOSTILE in shown["peer"] and "812.5 ms" in shown["peer"]
    assert shown["injected"] == 0  # names are text, never markup
    assert shown["padding"] == 1 and shown["points"] >= 2
    assert shown["stored"] == TOKEN and shown["memory"] == "3"
    assert shown["before_login"] == "locked"
    # totals since the link opened (it read 0 B after messages sent before the page opened):
    # the 100,000 B (97.7 KiB) from before the page, plus a bounded little since
    total = re.search(r"payload (\d+\.\d) KiB", shown["caption"])
    assert total and 97.6 <= float(total[1]) < 110, shown["caption"]


async def test_the_page_follows_the_node_over_events() -> None:
    node = FakeNode(events=True)
    shown = await drive(node, "")
    check_common(shown, node)
    assert shown["connection"] == "live"
    assert node.protocols == [f"gateway.events.v1, bearer.{TOKEN}"]


async def test_the_page_falls_back_to_polling_without_events() -> None:
    node = FakeNode(events=False)
    shown = await drive(node, "?poll=250")
    check_common(shown, node)
    assert shown["connection"] == "polling"
