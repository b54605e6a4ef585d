"""Reading consensus documents and microdescriptor answers (no network)."""

from __future__ import annotations

from gateway.testnet.consensus import count_microdescs, microdesc_digests, parse_consensus

MICRODESC_CONSENSUS = """network-status-version 3 microdesc
valid-after 2026-11-21 11:34:40
r test003r AAAA 2026-11-21 11:34:00 127.0.0.1 5000 0
m 8nq8V0Mj3XkY7nV0yq3m8C3hZb7d8dE7Xb2N3h0wHfM
s Fast Guard HSDir Running Stable V2Dir Valid
r test004r BBBB 2026-11-21 11:34:00 127.0.0.1 5001 0
m Qw2mB7uS6cF0y5pP3Zr1tJ8hN4kL9xV2aD6eG0iU3oY
s Fast HSDir Running Valid
directory-footer
"""

MICRODESCS = """onion-key
-----BEGIN RSA PUBLIC KEY-----
AAAA
-----END RSA PUBLIC KEY-----
ntor-onion-key abc=
onion-key
-----BEGIN RSA PUBLIC KEY-----
BBBB
-----END RSA PUBLIC KEY-----
ntor-onion-key def=
"""


def test_the_digests_are_the_m_lines_in_order() -> None:
    assert microdesc_digests(MICRODESC_CONSENSUS) == [
        "8nq8V0Mj3XkY7nV0yq3m8C3hZb7d8dE7Xb2N3h0wHfM",
        "Qw2mB7uS6cF0y5pP3Zr1tJ8hN4kL9xV2aD6eG0iU3oY",
    ]
    assert microdesc_digests("network-status-version 3\n") == []


def test_microdescriptors_are_counted_by_their_onion_key_line() -> None:
    assert count_microdescs(MICRODESCS) == 2
    assert count_microdescs("") == 0


def test_flags_are_counted_per_router() -> None:
    summary = parse_consensus(MICRODESC_CONSENSUS)
    assert (summary.relays, summary.running, summary.hsdirs, summary.guards) == (2, 2, 2, 1)
    assert summary.valid_after == "2026-11-21 11:34:40"
