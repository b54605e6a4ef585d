"""Connections through tor's SOCKS port, with names resolved by tor.

``isolation`` is a (username, password) pair: with ``IsolateSOCKSAuth`` (on by
default in tor) streams with different credentials never share a circuit.
"""

from __future__ import annotations

import aiohttp
import aiohttp_socks
import python_socks
from aiohttp_socks import ProxyConnector, ProxyType

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


#: tor's extended SOCKS5 replies for onion services (SocksPort flag ExtendedErrors)
ONION_REPLIES: dict[int, str] = {
    0xF0: "tor found no descriptor for the onion (not published, or not yet)",
    0xF1: "the onion's descriptor is invalid",
    0xF2: "the onion's introduction failed",
    0xF3: "the rendezvous with the onion failed",
    0xF4: "the onion requires client authorization and tor has no key for it "
    "(a paranoid contact: the key comes with its invite or the first link)",
    0xF5: "tor's client-authorization key for the onion is wrong (revoked or replaced)",
    0xF6: "the onion address is invalid",
    0xF7: "the onion's introduction timed out",
}
#: the replies that mean client authorization is missing or wrong
CLIENT_AUTH_REPLIES = frozenset({0xF4, 0xF5})


def reply_code(exc: BaseException) -> int | None:
    """The SOCKS reply code of a proxy error (None for other errors)."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, int) else None


def explain(exc: BaseException) -> str:
    """What a failed connection through tor means, in words when tor said why."""
    code = reply_code(exc)
    if code in ONION_REPLIES:
        return f"{ONION_REPLIES[code]} (SOCKS reply {code:#04x})"
    return str(exc) or type(exc).__name__


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
