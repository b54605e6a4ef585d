"""The client side of a SOCKS5 CONNECT by host name (RFC 1928), with RFC 1929
username/password: what the link dialer asks of tor's SocksPort.

:class:`Socks5Connect` is sans-I/O: :meth:`~Socks5Connect.start` gives the greeting,
:meth:`~Socks5Connect.wants` how many bytes of the proxy's answer it needs next (never
more than the answer holds, so no byte of the connection that follows is read), and
:meth:`~Socks5Connect.receive` takes exactly those bytes and gives what to send next.
:func:`open_connection` drives it over asyncio streams. Only the dialer's case is
covered: a host name (tor resolves it), no BIND, no UDP ASSOCIATE.

The username and password are tor's stream isolation (``IsolateSOCKSAuth``): streams
with different credentials never share a circuit. tor accepts any values.
"""

from __future__ import annotations

import asyncio
import enum
import struct

from gateway.errors import SocksError
from gateway.tor.socksreply import describe

VERSION = 5
AUTH_VERSION = 1  # RFC 1929's subnegotiation version
NO_AUTH, USER_PASS, NO_ACCEPTABLE = 0x00, 0x02, 0xFF
CONNECT = 0x01
IPV4, DOMAIN, IPV6 = 0x01, 0x03, 0x04
_PORT = struct.Struct("!H")


class Step(enum.Enum):
    START = "start"
    METHOD = "method"  # greeting sent: VER METHOD (2 bytes)
    AUTH = "auth"  # username/password sent: VER STATUS (2 bytes)
    REPLY = "reply"  # CONNECT sent: VER REP RSV ATYP and the first address byte
    ADDRESS = "address"  # the rest of BND.ADDR and BND.PORT
    DONE = "done"


class Socks5Connect:
    """One CONNECT to ``host``:``port`` through a SOCKS5 proxy."""

    def __init__(self, host: str, port: int, auth: tuple[str, str] | None = None) -> None:
        try:
            name = host.encode("ascii")
        except UnicodeEncodeError:
            raise SocksError(f"host name {host!r} is not ASCII") from None
        if not 0 < len(name) <= 255:
            raise SocksError(f"host name must be 1-255 bytes, got {len(name)}")
        if not 0 < port < 65536:
            raise SocksError(f"port must be 1-65535, got {port}")
        if auth is not None:
            for what, value in zip(("username", "password"), auth, strict=True):
                if not 0 < len(value.encode()) <= 255:
                    raise SocksError(f"SOCKS {what} must be 1-255 bytes")
        self._name, self._port, self._auth = name, port, auth
        self.step = Step.START
        self._rest = 0

    @property
    def done(self) -> bool:
        """The proxy granted the connection: what follows is the target's stream."""
        return self.step is Step.DONE

    def start(self) -> bytes:
        """The greeting: the methods we offer."""
        if self.step is not Step.START:
            raise SocksError("the SOCKS exchange has already started")
        self.step = Step.METHOD
        return bytes([VERSION, 1, USER_PASS if self._auth else NO_AUTH])

    def wants(self) -> int:
        """How many bytes :meth:`receive` needs next (0 once done)."""
        sizes = {Step.METHOD: 2, Step.AUTH: 2, Step.REPLY: 5, Step.ADDRESS: self._rest}
        if self.step is Step.START:
            raise SocksError("start() first")
        return sizes.get(self.step, 0)

    def receive(self, data: bytes) -> bytes:
        """Take exactly :meth:`wants` bytes of the proxy's answer; the bytes to send next
        (empty when there is nothing to send). Raises :class:`SocksError` when the proxy
        refuses or answers out of protocol."""
        if self.step is Step.DONE:
            raise SocksError("the SOCKS exchange is over")
        if len(data) != self.wants():
            raise SocksError(f"expected {self.wants()} bytes from the proxy, got {len(data)}")
        if self.step is Step.METHOD:
            return self._method(data)
        if self.step is Step.AUTH:
            if data[0] != AUTH_VERSION:
                raise SocksError(f"bad username/password reply version {data[0]}")
            if data[1] != 0:
                raise SocksError(f"the proxy refused the username/password (status {data[1]})")
            return self._connect()
        if self.step is Step.REPLY:
            return self._reply(data)
        self.step = Step.DONE  # BND.ADDR and BND.PORT: tor's are meaningless here
        return b""

    def _method(self, data: bytes) -> bytes:
        if data[0] != VERSION:
            raise SocksError(f"not a SOCKS5 proxy (version {data[0]})")
        offered = USER_PASS if self._auth else NO_AUTH
        if data[1] == NO_ACCEPTABLE or data[1] != offered:
            raise SocksError(f"the proxy accepts none of our methods (chose {data[1]:#04x})")
        if self._auth is None:
            return self._connect()
        self.step = Step.AUTH
        user, password = (v.encode() for v in self._auth)
        return bytes([AUTH_VERSION, len(user)]) + user + bytes([len(password)]) + password

    def _connect(self) -> bytes:
        self.step = Step.REPLY
        head = bytes([VERSION, CONNECT, 0, DOMAIN, len(self._name)])
        return head + self._name + _PORT.pack(self._port)

    def _reply(self, data: bytes) -> bytes:
        version, code, _reserved, kind, first = data
        if version != VERSION:
            raise SocksError(f"bad SOCKS reply version {version}")
        if code != 0:
            raise SocksError(describe(code), error_code=code)
        sizes = {IPV4: 4 - 1, IPV6: 16 - 1, DOMAIN: first}  # ``first`` is already read
        if kind not in sizes:
            raise SocksError(f"bad SOCKS reply address type {kind}")
        self._rest = sizes[kind] + _PORT.size
        self.step = Step.ADDRESS
        return b""


async def open_connection(
    proxy_port: int,
    host: str,
    port: int,
    *,
    auth: tuple[str, str] | None = None,
    timeout: float,
    limit: int = 2**16,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream to ``host``:``port`` through the SOCKS5 proxy on 127.0.0.1:``proxy_port``.

    Raises :class:`SocksError` (with tor's reply code when it gave one), ``OSError`` when
    the proxy cannot be reached, ``TimeoutError`` after ``timeout`` seconds in all.
    """
    machine = Socks5Connect(host, port, auth)
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port, limit=limit)
        try:
            writer.write(machine.start())
            while not machine.done:
                try:
                    answer = await reader.readexactly(machine.wants())
                except asyncio.IncompleteReadError:
                    raise SocksError("the proxy closed the connection mid-exchange") from None
                if out := machine.receive(answer):
                    writer.write(out)
                await writer.drain()
        except BaseException:
            writer.close()
            raise
    return reader, writer
