from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway import PROTOCOL_VERSION, __version__
from gateway.errors import ConfigError
from gateway.node.app import HttpServer, NodeInfo, build_app, check_loopback


async def test_health_says_little() -> None:
    async with TestClient(TestServer(build_app(NodeInfo()))) as client:
        resp = await client.get("/health")
        assert resp.status == 200
        body = await resp.json()
    assert body == {"status": "ok", "version": __version__, "protocol": PROTOCOL_VERSION}


async def test_installers_add_routes() -> None:
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hi")

    def install(app: web.Application) -> None:
        app.router.add_get("/hello", hello)

    async with TestClient(TestServer(build_app(NodeInfo(), [install]))) as client:
        assert await (await client.get("/hello")).text() == "hi"
        assert (await client.get("/health")).status == 200
        assert (await client.get("/nothing")).status == 404


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1"])
def test_loopback_accepted(host: str) -> None:
    assert check_loopback(host) == host


def test_localhost_means_ipv4_loopback() -> None:
    assert check_loopback("localhost") == "127.0.0.1"


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "localhost.example", "192.168.1.2", "", "10.0.0.1"]
)
def test_other_hosts_refused(host: str) -> None:
    with pytest.raises(ConfigError, match=r"http\.host: expected a loopback IP"):
        check_loopback(host)


def test_server_refuses_wildcard_before_binding() -> None:
    with pytest.raises(ConfigError):
        HttpServer(build_app(NodeInfo()), "0.0.0.0")


async def test_server_binds_loopback_free_port() -> None:
    server = HttpServer(build_app(NodeInfo()), "127.0.0.1", 0)
    target = await server.start()
    try:
        assert target == f"127.0.0.1:{server.port}" and server.port > 0
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{target}/health") as resp,
        ):
            assert (await resp.json())["status"] == "ok"
    finally:
        await server.stop()


async def test_port_in_use_is_config_error() -> None:
    first = HttpServer(build_app(NodeInfo()), "127.0.0.1", 0)
    await first.start()
    try:
        second = HttpServer(build_app(NodeInfo()), "127.0.0.1", first.port)
        with pytest.raises(ConfigError, match=r"http\.port"):
            await second.start()
    finally:
        await first.stop()


async def test_a_posted_body_is_read_and_the_connection_stays_open() -> None:
    async with TestClient(TestServer(build_app(NodeInfo()))) as client:
        for _ in range(3):  # one keep-alive connection: each body must be consumed
            resp = await client.post("/health", data=b"x" * 256 * 1024)
            assert resp.status == 200 and (await resp.json())["status"] == "ok"
        assert len(client.session.connector._conns) == 1  # type: ignore[union-attr]
        resp = await client.post("/health", data=b"x" * (2 << 20))
        assert resp.status == 413  # beyond the app's size limit
