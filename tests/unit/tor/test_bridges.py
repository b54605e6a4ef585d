"""A bootstrap that failed through bridges says that no bridge answered."""

from __future__ import annotations

from gateway.config.bridges import DEFAULT_TRANSPORTS, parse_bridge
from gateway.errors import BootstrapError
from gateway.tor.bridges import in_bridge_phase, through_bridges

CERT = "HgffYwIwQlA0BBOmU8TP+gbc1YPv1iOtyd1wGV126FlknCGP8TuWoJrYosgcEhtE3KZsLA"
LINE = parse_bridge(f"obfs4 192.0.2.1:443 {'A' * 40} cert={CERT} iat-mode=0", DEFAULT_TRANSPORTS)


def test_the_bridge_phase_ends_at_the_first_relay_connection() -> None:
    assert in_bridge_phase(None)
    assert in_bridge_phase("0% (starting): Starting")
    assert in_bridge_phase("2% (conn_done_pt): Connected to pluggable transport")
    assert not in_bridge_phase("10% (conn_done): Connected to a relay")
    assert not in_bridge_phase("45% (requesting_descriptors): Asking for relay descriptors")


def test_a_failure_in_the_bridge_phase_names_the_bridges() -> None:
    error = BootstrapError("tor did not bootstrap within 20 s", last_phase="1% (conn_pt): x")
    restated = through_bridges(error, (LINE,))
    assert isinstance(restated, BootstrapError)
    text = str(restated)
    assert text.startswith("tor reached none of its bridges (obfs4 192.0.2.1:443)")
    assert "bridge phase" in text and "1% (conn_pt)" in text


def test_later_failures_and_direct_connections_are_left_alone() -> None:
    late = BootstrapError("tor did not bootstrap", last_phase="50% (loading_descriptors): y")
    assert through_bridges(late, (LINE,)) is late
    early = BootstrapError("tor did not bootstrap", last_phase="1% (conn_pt): x")
    assert through_bridges(early, ()) is early
