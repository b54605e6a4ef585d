"""What tor's SOCKS replies mean, apart from the SOCKS client libraries.

:mod:`gateway.tor.socks` (aiohttp sessions through tor) and the link dialer
(:mod:`gateway.link.manager`, through :mod:`gateway.tor.socks5`) both explain failures
with these; neither SOCKS client is loaded by a node that has not dialed.
"""

from __future__ import annotations

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
#: RFC 1928 section 6
REPLIES: dict[int, str] = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}
#: the replies that mean client authorization is missing or wrong
CLIENT_AUTH_REPLIES = frozenset({0xF4, 0xF5})


def reply_code(exc: BaseException) -> int | None:
    """The SOCKS reply code of a proxy error (None for other errors)."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, int) else None


def describe(code: int) -> str:
    """A SOCKS5 reply code in words, with the code."""
    words = ONION_REPLIES.get(code) or REPLIES.get(code, "unknown reply")
    return f"{words} (SOCKS reply {code:#04x})"


def explain(exc: BaseException) -> str:
    """What a failed connection through tor means, in words when tor said why (other
    errors keep their own text: a SOCKS library's words for the standard replies)."""
    code = reply_code(exc)
    if code in ONION_REPLIES:
        return describe(code)
    return str(exc) or type(exc).__name__
