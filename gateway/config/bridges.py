"""``tor.bridges``, ``tor.transports`` and ``tor.require_bridges``: reaching Tor through bridges.

A bridge line is what bridges.torproject.org or a friend hands out, with or without a
leading ``Bridge``::

    obfs4 192.0.2.1:443 0123...CDEF cert=... iat-mode=0
    snowflake 192.0.2.3:80 2B28...1B1D fingerprint=2B28...1B1D url=https://... ice=...
    webtunnel [2001:db8::1]:443 0123...CDEF url=https://example.com/path ver=0.0.1
    192.0.2.7:9001 0123...CDEF                      (a plain bridge, no transport)

Each line is checked here (address, port, fingerprint, the arguments its transport
needs) with an error naming ``tor.bridges[i]``; each transport a line uses needs a
client binary, Debian's by default (``tor.transports`` names another), which is
looked for when the node starts (:mod:`gateway.config.preflight`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.config.fields import Section, type_name

#: transport -> the client binary Debian ships for it (``tor.transports`` overrides)
DEFAULT_TRANSPORTS: Mapping[str, str] = {
    "obfs4": "obfs4proxy",
    "meek_lite": "obfs4proxy",
    "snowflake": "snowflake-client",
    "webtunnel": "webtunnel-client",
}
#: the Debian package for each default binary, for the error when it is missing
PACKAGES: Mapping[str, str] = {
    "obfs4proxy": "obfs4proxy",
    "snowflake-client": "snowflake-client",
}
#: arguments a line of each transport cannot do without
REQUIRED_ARGS: Mapping[str, tuple[str, ...]] = {
    "obfs4": ("cert", "iat-mode"),
    "snowflake": ("url",),
    "webtunnel": ("url",),
    "meek_lite": ("url",),
}
MAX_BRIDGES = 64
_TRANSPORT = re.compile(r"[a-z][a-z0-9_]{0,31}")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{40}")
_ARG = re.compile(r"([A-Za-z0-9_.-]{1,64})=(\S{1,2048})")
_OBFS4_CERT = 70  # base64 characters (no padding) of a 52-byte node id + public key


@dataclass(frozen=True)
class BridgeLine:
    """One checked bridge line."""

    #: "" for a plain bridge
    transport: str
    #: ``IP:PORT`` or ``[IPv6]:PORT``
    address: str
    fingerprint: str | None
    #: ``key=value`` arguments for the transport, in the order given
    args: tuple[tuple[str, str], ...] = ()

    def torrc(self) -> str:
        """The torrc ``Bridge`` line."""
        words = [self.transport, self.address, self.fingerprint or ""]
        words += [f"{k}={v}" for k, v in self.args]
        return "Bridge " + " ".join(w for w in words if w)


def parse_bridge(text: str, transports: Mapping[str, str]) -> BridgeLine:
    """One line; ValueError saying what is wrong (the caller adds the key path)."""
    words = text.split()
    if words[:1] == ["Bridge"]:
        words = words[1:]
    if not words:
        raise ValueError("the line is empty")
    transport = ""
    if not _looks_like_address(words[0]):
        transport = words.pop(0)
        if not _TRANSPORT.fullmatch(transport):
            raise ValueError(f"{transport!r} is neither a transport name nor an IP:PORT")
        if transport not in transports:
            known = ", ".join(sorted(transports))
            raise ValueError(
                f"unknown transport {transport!r} (known: {known}; "
                "tor.transports can name the client binary of another)"
            )
    if not words:
        raise ValueError("an IP:PORT address after the transport is missing")
    address = _address(words.pop(0))
    fingerprint = None
    if words and _FINGERPRINT.fullmatch(words[0]):
        fingerprint = words.pop(0).upper()
    args = []
    for word in words:
        match = _ARG.fullmatch(word)
        if match is None:
            raise ValueError(f"{word[:40]!r} is not a fingerprint (40 hex) or a key=value argument")
        args.append((match.group(1), match.group(2)))
    if args and not transport:
        raise ValueError("a plain bridge (no transport) takes no key=value arguments")
    _check_args(transport, dict(args))
    return BridgeLine(transport, address, fingerprint, tuple(args))


def _looks_like_address(word: str) -> bool:
    return word.startswith("[") or bool(re.fullmatch(r"[0-9.]+:[0-9]+", word))


def _address(word: str) -> str:
    host, sep, port = word.rpartition(":")
    if not sep:
        raise ValueError(f"{word!r} is not IP:PORT")
    try:
        ip = ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IPv4 address or a bracketed IPv6 address") from None
    if ip.version == 6 and not host.startswith("["):
        raise ValueError(f"an IPv6 address is written in brackets: [{host}]:{port}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port!r} is not from 1 to 65535")
    return word


def _check_args(transport: str, args: Mapping[str, str]) -> None:
    missing = [k for k in REQUIRED_ARGS.get(transport, ()) if k not in args]
    if missing:
        raise ValueError(f"a {transport} line needs {', '.join(k + '=' for k in missing)}")
    if transport == "obfs4":
        cert = args["cert"]
        try:
            raw = base64.b64decode(cert + "=" * (-len(cert) % 4), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(cert) != _OBFS4_CERT or len(raw) != 52:
            raise ValueError("cert= is not an obfs4 certificate (70 base64 characters)")
        if args["iat-mode"] not in ("0", "1", "2"):
            raise ValueError(f"iat-mode={args['iat-mode']} is not 0, 1 or 2")
    url = args.get("url")
    if url is not None and transport in ("snowflake", "webtunnel", "meek_lite"):
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"url= must be an https:// URL, not {url[:60]!r}")


def build_transports(section: Section) -> dict[str, str]:
    """``tor.transports``: transport name -> client binary (name on PATH or a path)."""
    out = dict(DEFAULT_TRANSPORTS)
    for name, binary in section.data.items():
        if not isinstance(name, str) or not _TRANSPORT.fullmatch(name):
            raise section.error(str(name), "a transport name: a-z, 0-9, _ (e.g. obfs4)")
        if not isinstance(binary, str) or not binary.strip() or "\x00" in binary:
            raise section.error(name, "the transport's client binary: a name or a path", binary)
        out[name] = binary
    return out


def build_bridges(section: Section, transports: Mapping[str, str]) -> tuple[BridgeLine, ...]:
    """``tor.bridges``: a list of bridge lines, each checked."""
    value = section.data.get("bridges")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise section.error("bridges", "a list of bridge lines", type_name(value))
    if len(value) > MAX_BRIDGES:
        raise section.error("bridges", f"at most {MAX_BRIDGES} bridge lines", len(value))
    lines = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise section.error(f"bridges[{i}]", "a bridge line (a string)", type_name(item))
        try:
            lines.append(parse_bridge(item, transports))
        except ValueError as exc:
            expected = "a bridge line: [transport] IP:PORT [fingerprint] [key=value ...]"
            raise section.error(f"bridges[{i}]", expected, item[:80], str(exc)) from None
    return tuple(lines)


def transports_used(
    bridges: tuple[BridgeLine, ...], transports: Mapping[str, str]
) -> dict[str, str]:
    """The transports the bridge lines use, with their binaries (for ClientTransportPlugin)."""
    return {b.transport: transports[b.transport] for b in bridges if b.transport}


def bridge_torrc_lines(
    bridges: tuple[BridgeLine, ...], transports: tuple[tuple[str, str], ...]
) -> list[str]:
    """``UseBridges``, a ``ClientTransportPlugin`` per transport, a ``Bridge`` per line.

    tor runs a transport's binary without searching PATH, so a name is resolved here
    (preflight has already refused a binary that is not there).
    """
    if not bridges:
        return []
    plugins = [
        f"ClientTransportPlugin {name} exec {shutil.which(binary) or binary}"
        for name, binary in transports
    ]
    return ["UseBridges 1", *plugins, *(b.torrc() for b in bridges)]
