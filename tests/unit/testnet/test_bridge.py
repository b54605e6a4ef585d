"""The private network's obfs4 bridge: its torrc and how its bridge line is read."""

from __future__ import annotations

from pathlib import Path

from gateway.testnet.bridge import OBFS4_LINE, BridgeSpec, bridge_line, bridge_torrc
from gateway.testnet.torrc import NodeSpec

AUTH = NodeSpec("test000a", True, 5000, 5001, Path("/n/a"), "A" * 40, "B" * 40)
CERT = "HgffYwIwQlA0BBOmU8TP+gbc1YPv1iOtyd1wGV126FlknCGP8TuWoJrYosgcEhtE3KZsLA"


def test_the_bridge_stays_out_of_the_consensus_and_speaks_obfs4(tmp_path: Path) -> None:
    bridge = BridgeSpec("bridge0", 6000, 6001, tmp_path)
    lines = bridge_torrc(bridge, (AUTH,), "/usr/bin/obfs4proxy").splitlines()
    for line in (
        "BridgeRelay 1",
        "PublishServerDescriptor 0",
        "ORPort 127.0.0.1:6000",
        "ServerTransportPlugin obfs4 exec /usr/bin/obfs4proxy",
        "ServerTransportListenAddr obfs4 127.0.0.1:6001",
        "ExtORPort auto",
        "TestingTorNetwork 1",
        "ExitPolicy reject *:*",
    ):
        assert line in lines, line
    assert [ln for ln in lines if ln.startswith("DirAuthority test000a ")]
    assert not [ln for ln in lines if ln.startswith(("DirPort", "SocksPort 1"))]


def test_the_bridge_line_needs_both_the_fingerprint_and_the_obfs4_cert(tmp_path: Path) -> None:
    bridge = BridgeSpec("bridge0", 6000, 6001, tmp_path)
    assert bridge_line(bridge) is None
    (tmp_path / "fingerprint").write_text("bridge0 " + "C" * 40 + "\n")
    assert bridge_line(bridge) is None
    (tmp_path / OBFS4_LINE).parent.mkdir()
    (tmp_path / OBFS4_LINE).write_text(
        "# obfs4 torrc client bridge line\n"
        f"Bridge obfs4 <IP ADDRESS>:<PORT> <FINGERPRINT> cert={CERT} iat-mode=0\n"
    )
    assert bridge_line(bridge) == f"obfs4 127.0.0.1:6001 {'C' * 40} cert={CERT} iat-mode=0"
