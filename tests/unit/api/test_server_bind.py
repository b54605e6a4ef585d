"""Where the API listens: loopback TCP, or a 0600 unix socket; any other host is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.api.server import ApiServer, check_loopback
from gateway.config.schema import ApiTransport
from gateway.errors import ConfigError


async def hello(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def app() -> web.Application:
    a = web.Application()
    a.router.add_get("/", hello)
    return a


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", ""])
def test_non_loopback_bind_refused(host: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ApiServer(app(), ApiTransport.TCP, tmp_path / "api.sock", host=host)
    assert caught.value.exit_status == 2
    assert caught.value.key_path == "http.host" and "loopback" in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_hosts_accepted(host: str) -> None:
    assert check_loopback(host) == host


async def test_tcp_listens_on_loopback(tmp_path: Path) -> None:
    server = ApiServer(app(), ApiTransport.TCP, tmp_path / "api.sock")
    endpoint = await server.start()
    try:
        assert endpoint.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http, http.get(endpoint + "/") as resp:
            assert (await resp.json()) == {"ok": True}
    finally:
        await server.stop()


async def test_unix_socket_is_private(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    server = ApiServer(app(), ApiTransport.UNIX, path)
    endpoint = await server.start()
    try:
        assert endpoint == f"unix:{path}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        connector = aiohttp.UnixConnector(path=str(path))
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.get("http://localhost/") as resp,
        ):
            assert (await resp.json()) == {"ok": True}
    finally:
        await server.stop()
    assert not path.exists()
