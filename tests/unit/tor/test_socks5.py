"""gateway.tor.socks5: the SOCKS5 CONNECT state machine (RFC 1928, RFC 1929), and its
asyncio driver against a SOCKS5 server on 127.0.0.1 written here from the RFCs."""

from __future__ import annotations

import asyncio
import struct

import pytest

from gateway.errors import SocksError
from gateway.tor import socks5
from gateway.tor.socksreply import reply_code

HOST = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion"


def run(machine: socks5.Socks5Connect, answers: list[bytes]) -> list[bytes]:
    """Drive ``machine`` with the proxy's ``answers``, each cut at what it wants."""
    sent = [machine.start()]
    stream = b"".join(answers)
    while not machine.done:
        n = machine.wants()
        chunk, stream = stream[:n], stream[n:]
        if out := machine.receive(chunk):
            sent.append(out)
    assert stream == b"", "the machine must not consume what follows the reply"
    return sent


def granted(kind: int = socks5.IPV4) -> bytes:
    address = {socks5.IPV4: bytes(4), socks5.IPV6: bytes(16), socks5.DOMAIN: b"\x03abc"}[kind]
    return bytes([5, 0, 0, kind]) + address + struct.pack("!H", 0)


def test_without_credentials_it_offers_no_auth_then_connects_by_name() -> None:
    sent = run(socks5.Socks5Connect(HOST, 9735), [b"\x05\x00", granted()])
    assert sent[0] == b"\x05\x01\x00"
    assert sent[1] == b"\x05\x01\x00\x03" + bytes([len(HOST)]) + HOST.encode() + b"\x26\x07"
    assert len(sent) == 2


def test_with_credentials_it_sends_rfc1929_username_and_password() -> None:
    machine = socks5.Socks5Connect(HOST, 80, auth=("gw-0102", "token"))
    sent = run(machine, [b"\x05\x02", b"\x01\x00", granted()])
    assert sent[0] == b"\x05\x01\x02"
    assert sent[1] == b"\x01\x07gw-0102\x05token"
    assert sent[2].startswith(b"\x05\x01\x00\x03")
    assert machine.done


@pytest.mark.parametrize("kind", [socks5.IPV4, socks5.IPV6, socks5.DOMAIN])
def test_the_bound_address_is_read_whole_and_nothing_after_it(kind: int) -> None:
    machine = socks5.Socks5Connect(HOST, 80)
    run(machine, [b"\x05\x00", granted(kind)])
    assert machine.done and machine.wants() == 0


def test_tors_onion_reply_is_an_error_with_its_code() -> None:
    machine = socks5.Socks5Connect(HOST, 80)
    machine.start()
    machine.receive(b"\x05\x00")
    with pytest.raises(SocksError) as caught:
        machine.receive(b"\x05\xf4\x00\x01\x00")
    assert caught.value.error_code == 0xF4 and reply_code(caught.value) == 0xF4
    assert "client authorization" in str(caught.value)


def test_a_standard_reply_names_its_rfc_meaning() -> None:
    machine = socks5.Socks5Connect(HOST, 80)
    machine.start()
    machine.receive(b"\x05\x00")
    with pytest.raises(SocksError, match="host unreachable") as caught:
        machine.receive(b"\x05\x04\x00\x01\x00")
    assert caught.value.error_code == 4


@pytest.mark.parametrize(
    ("auth", "answer", "words"),
    [
        (None, b"\x04\x00", "not a SOCKS5 proxy"),
        (None, b"\x05\xff", "none of our methods"),
        (None, b"\x05\x02", "none of our methods"),  # asks for a password we did not offer
        (("u", "p"), b"\x05\x00", "none of our methods"),
    ],
)
def test_a_refused_or_odd_method_choice_is_an_error(
    auth: tuple[str, str] | None, answer: bytes, words: str
) -> None:
    machine = socks5.Socks5Connect(HOST, 80, auth=auth)
    machine.start()
    with pytest.raises(SocksError, match=words) as caught:
        machine.receive(answer)
    assert caught.value.error_code is None


def test_refused_credentials_and_bad_replies_are_errors() -> None:
    machine = socks5.Socks5Connect(HOST, 80, auth=("u", "p"))
    machine.start()
    machine.receive(b"\x05\x02")
    with pytest.raises(SocksError, match="refused the username"):
        machine.receive(b"\x01\x01")
    machine = socks5.Socks5Connect(HOST, 80)
    machine.start()
    machine.receive(b"\x05\x00")
    with pytest.raises(SocksError, match="address type"):
        machine.receive(b"\x05\x00\x00\x09\x00")


def test_it_takes_exactly_what_it_wants() -> None:
    machine = socks5.Socks5Connect(HOST, 80)
    with pytest.raises(SocksError, match="start"):
        machine.wants()
    machine.start()
    with pytest.raises(SocksError, match="expected 2 bytes"):
        machine.receive(b"\x05")
    with pytest.raises(SocksError, match="already started"):
        machine.start()


@pytest.mark.parametrize(
    ("host", "port", "auth", "words"),
    [
        ("x" * 256, 80, None, "1-255 bytes"),
        ("", 80, None, "1-255 bytes"),
        ("h\u00e9te.onion", 80, None, "not ASCII"),
        (HOST, 0, None, "port"),
        (HOST, 70000, None, "port"),
        (HOST, 80, ("", "p"), "username"),
        (HOST, 80, ("u", "p" * 256), "password"),
    ],
)
def test_bad_targets_are_refused_before_anything_is_sent(
    host: str, port: int, auth: tuple[str, str] | None, words: str
) -> None:
    with pytest.raises(SocksError, match=words):
        socks5.Socks5Connect(host, port, auth)


# --- the asyncio driver against a local SOCKS5 server -------------------------------


async def serve_socks(reply: int, seen: list[bytes]) -> tuple[asyncio.Server, int]:
    """A SOCKS5 server (RFC 1928/1929) on 127.0.0.1: it records the CONNECT target and
    credentials, answers ``reply`` and, when granted, writes a greeting of the target's
    own in the same packet as the reply, then echoes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        assert version == 5  # else the client sees the connection close: SocksError
        if 2 in methods:
            writer.write(b"\x05\x02")
            _, ulen = await reader.readexactly(2)
            user = await reader.readexactly(ulen)
            (plen,) = await reader.readexactly(1)
            password = await reader.readexactly(plen)
            seen.append(user + b":" + password)
            writer.write(b"\x01\x00")
        else:
            writer.write(b"\x05\x00")
        version, command, _rsv, kind, size = await reader.readexactly(5)
        assert (version, command, kind) == (5, 1, 3)  # CONNECT by domain name
        name = await reader.readexactly(size)
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        seen.append(name + b":" + str(port).encode())
        answer = bytes([5, reply, 0, 1]) + bytes(4) + b"\x00\x00"
        if reply != 0:
            writer.write(answer)
            writer.close()
            return
        writer.write(answer + b"hello from the target\n")
        line = await reader.readline()
        writer.write(line)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_open_connection_hands_over_the_stream_without_losing_a_byte() -> None:
    seen: list[bytes] = []
    server, port = await serve_socks(0, seen)
    async with server:
        reader, writer = await socks5.open_connection(
            port, HOST, 9735, auth=("gw-ab", "iso"), timeout=10
        )
        assert await reader.readline() == b"hello from the target\n"
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()
    assert seen == [b"gw-ab:iso", HOST.encode() + b":9735"]


async def test_open_connection_raises_tors_reply() -> None:
    server, port = await serve_socks(0xF0, [])
    async with server:
        with pytest.raises(SocksError) as caught:
            await socks5.open_connection(port, HOST, 80, timeout=10)
    assert caught.value.error_code == 0xF0
    assert "no descriptor" in str(caught.value)


async def test_a_proxy_that_says_nothing_times_out() -> None:
    done = asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await done.wait()
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(TimeoutError):
            await socks5.open_connection(port, HOST, 80, timeout=0.2)
        done.set()


async def test_a_proxy_that_hangs_up_mid_exchange_is_a_socks_error() -> None:
    async def rude(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(3)
        writer.write(b"\x05")
        writer.close()

    server = await asyncio.start_server(rude, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(SocksError, match="closed the connection"):
            await socks5.open_connection(port, HOST, 80, timeout=10)
