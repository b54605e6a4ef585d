"""tor's PROXY v1 line carries the client circuit's global id."""

from __future__ import annotations

import pytest

from gateway.errors import FrameError
from gateway.link.proxyproto import parse_proxy_line


def test_the_man_page_example() -> None:
    line = b"PROXY TCP6 fc00:dead:beef:4dad::ffff:ffff ::1 65535 42\r\n"
    assert parse_proxy_line(line) == 4294967295


def test_small_circuit_ids() -> None:
    assert parse_proxy_line(b"PROXY TCP6 fc00:dead:beef:4dad::0:2a ::1 80 80\r\n") == 42
    assert parse_proxy_line(b"PROXY TCP6 fc00:dead:beef:4dad::1:0 ::1 80 80\r\n") == 65536


@pytest.mark.parametrize(
    "line",
    [
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP6 fc00:dead:beef:4dae::1 ::1 80 80\r\n",
        b"PROXY TCP6 nonsense ::1 80 80\r\n",
        b"PROXY TCP6 fc00:dead:beef:4dad::1 ::1 80\r\n",
        b"PROXY TCP6 fc00:dead:beef:4dad::1 ::1 80 80\n",
        b"PROXY " + b"x" * 120 + b"\r\n",
        b"PROXY TCP6 \xff ::1 80 80\r\n",
    ],
)
def test_anything_else_is_refused(line: bytes) -> None:
    with pytest.raises(FrameError):
        parse_proxy_line(line)
