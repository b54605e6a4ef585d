from __future__ import annotations

from pathlib import Path

from gateway.tor import hsconf

REPLY = [
    "HiddenServiceDir=/var/lib/tor/other",
    "HiddenServicePort=80 127.0.0.1:8080",
    "HiddenServiceDir=/srv/node/hs",
    "HiddenServicePort=80 127.0.0.1:9000",
    "HiddenServiceOptions",
]


def test_parse_and_split() -> None:
    pairs = hsconf.parse_getconf_lines(REPLY)
    assert len(pairs) == 4
    blocks = hsconf.split_blocks(pairs)
    assert [hsconf.block_dir(b) for b in blocks] == ["/var/lib/tor/other", "/srv/node/hs"]
    assert blocks[0][1] == ("HiddenServicePort", "80 127.0.0.1:8080")


def test_options_before_any_dir_are_dropped() -> None:
    assert hsconf.split_blocks([("HiddenServicePort", "80")]) == []


def test_replace_ours_keeps_others_in_order() -> None:
    blocks = hsconf.split_blocks(hsconf.parse_getconf_lines(REPLY))
    ours = hsconf.our_block(
        Path("/srv/node/hs"), 80, "127.0.0.1:9100", (("HiddenServicePoWDefensesEnabled", "1"),)
    )
    new = [*hsconf.without_dir(blocks, Path("/srv/node/hs")), ours]
    assert hsconf.flatten(new) == [
        ("HiddenServiceDir", "/var/lib/tor/other"),
        ("HiddenServicePort", "80 127.0.0.1:8080"),
        ("HiddenServiceDir", "/srv/node/hs"),
        ("HiddenServicePort", "80 127.0.0.1:9100"),
        ("HiddenServicePoWDefensesEnabled", "1"),
    ]


def test_without_ours_when_alone_is_empty() -> None:
    ours = hsconf.our_block(Path("/srv/hs"), 80, "127.0.0.1:1")
    assert hsconf.flatten(hsconf.without_dir([ours], Path("/srv/hs"))) == []
