"""The PROXY v1 line tor writes before each stream with ``HiddenServiceExportCircuitID haproxy``.

tor encodes the 32-bit global id of the client's circuit as the last 32 bits of
the source address (tor(1), HiddenServiceExportCircuitID)::

    PROXY TCP6 fc00:dead:beef:4dad::AABB:CCDD ::1 <port> <port>\\r\\n

Handshake rate limits are kept per circuit with it (sans-I/O parsing here).
"""

from __future__ import annotations

import ipaddress

from gateway.errors import FrameError

PREFIX = b"PROXY "
#: PROXY v1 lines are at most 107 bytes
MAX_LINE = 107
#: the upper 64 bits of the source address tor writes
TOR_NETWORK = 0xFC00_DEAD_BEEF_4DAD


def parse_proxy_line(line: bytes) -> int:
    """The circuit id in a PROXY v1 line from tor (line ends with CRLF)."""
    if not line.startswith(PREFIX) or not line.endswith(b"\r\n") or len(line) > MAX_LINE:
        raise FrameError("not a PROXY v1 line")
    try:
        fields = line[:-2].decode("ascii").split(" ")
        source = int(ipaddress.IPv6Address(fields[2])) if len(fields) == 6 else -1
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"malformed PROXY line {line[:60]!r}") from exc
    if fields[1] != "TCP6" or source >> 64 != TOR_NETWORK:
        raise FrameError(f"PROXY line carries no tor circuit id: {line[:60]!r}")
    return source & 0xFFFF_FFFF
