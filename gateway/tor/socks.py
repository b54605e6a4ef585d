"""Connections through tor's SOCKS port, with names resolved by tor.

``isolation`` is a (username, password) pair: with ``IsolateSOCKSAuth`` (on by
default in tor) streams with different credentials never share a circuit.
"""

from __future__ import annotations

import aiohttp
import aiohttp_socks
import python_socks
from aiohttp_socks import ProxyConnector, ProxyType

from gateway.tor.socksreply import CLIENT_AUTH_REPLIES as CLIENT_AUTH_REPLIES
from gateway.tor.socksreply import ONION_REPLIES as ONION_REPLIES
from gateway.tor.socksreply import explain as explain
from gateway.tor.socksreply import reply_code as reply_code

#: (username, password) for SOCKS stream isolation
Isolation = tuple[str, str]

#: what a request through tor's SOCKS port raises when the onion cannot be reached
SOCKS_ERRORS: tuple[type[Exception], ...] = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    aiohttp_socks.ProxyError,
    aiohttp_socks.ProxyConnectionError,
    aiohttp_socks.ProxyTimeoutError,
    python_socks.ProxyError,
)


def socks_url(port: int) -> str:
    return f"socks5://127.0.0.1:{port}"


def http_session(
    port: int, *, isolation: Isolation | None = None, timeout: float = 60.0
) -> aiohttp.ClientSession:
    """An aiohttp session whose every request goes through tor on ``127.0.0.1:port``."""
    username, password = isolation if isolation else (None, None)
    connector = ProxyConnector(
        proxy_type=ProxyType.SOCKS5,
        host="127.0.0.1",
        port=port,
        username=username,
        password=password,
        rdns=True,
    )
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout))
