"""torrc text, consensus parsing and port picking of the private network."""

from __future__ import annotations

import socket
from pathlib import Path

from gateway.testnet.consensus import parse_consensus
from gateway.testnet.ports import free_ports
from gateway.testnet.torrc import NodeSpec, client_lines, dir_authority_line, node_torrc

AUTH = NodeSpec("test000a", True, 5000, 5001, Path("/n/a"), "A" * 40, "B" * 40)
RELAY = NodeSpec("test003r", False, 5006, 5007, Path("/n/r"), "C" * 40)


def _options(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        found.setdefault(key, []).append(value)
    return found


def test_dir_authority_line_names_ports_and_both_fingerprints() -> None:
    assert dir_authority_line(AUTH) == (
        f"DirAuthority test000a orport=5000 no-v2 v3ident={'B' * 40} 127.0.0.1:5001 {'A' * 40}"
    )


def test_authority_votes_fast_and_relays_do_not() -> None:
    auth = _options(node_torrc(AUTH, [AUTH]))
    relay = _options(node_torrc(RELAY, [AUTH]))
    assert auth["V3AuthoritativeDirectory"] == ["1"]
    assert auth["TestingV3AuthInitialVotingInterval"] == ["20"]
    assert "V3AuthoritativeDirectory" not in relay
    for opts in (auth, relay):
        assert opts["TestingTorNetwork"] == ["1"]
        assert opts["ExitRelay"] == ["0"]
        assert opts["ExitPolicy"] == ["reject *:*"]
        assert opts["SocksPort"] == ["0"]
        assert len(opts["DirAuthority"]) == 1


def test_every_listener_is_on_loopback() -> None:
    opts = _options(node_torrc(RELAY, [AUTH]))
    assert opts["ORPort"] == ["127.0.0.1:5006"]
    assert opts["DirPort"] == ["127.0.0.1:5007"]
    assert opts["Address"] == ["127.0.0.1"]


def test_client_lines_join_the_network() -> None:
    lines = client_lines([AUTH])
    assert lines[0] == "TestingTorNetwork 1"
    assert dir_authority_line(AUTH) in lines


def test_parse_consensus_counts_routers_and_flags() -> None:
    doc = "\n".join(
        [
            "network-status-version 3",
            "valid-after 2026-11-21 05:00:00",
            "r a x y 2026-11-21 05:00:00 127.0.0.1 5000 0",
            "s Authority Guard HSDir Running V2Dir Valid",
            "r b x y 2026-11-21 05:00:00 127.0.0.1 5002 0",
            "s Running Valid",
        ]
    )
    summary = parse_consensus(doc)
    assert summary.valid_after == "2026-11-21 05:00:00"
    assert (summary.relays, summary.running, summary.hsdirs, summary.guards) == (2, 2, 1, 1)


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(20)
    assert len(set(ports)) == 20
    for port in ports[:3]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
