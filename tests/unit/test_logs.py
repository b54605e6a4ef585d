"""Structured logging: JSON lines, and the redaction of identifiers per security level."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import random
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from gateway.config.levels import POLICIES
from gateway.config.schema import Level, LogRedaction
from gateway.contacts.invite import new_invite
from gateway.contacts.onion import onion_address
from gateway.errors import ConfigError
from gateway.logs import (
    SCRUBBED,
    RedactionFilter,
    Secret,
    find_leaks,
    parse_level,
    redact,
    scrub,
    scrubbing,
    setup_logging,
    teardown_logging,
)

ALWAYS = LogRedaction.ALWAYS
DEBUG_ONLY = LogRedaction.DEBUG_ONLY
KEY = bytes(range(1, 33))


@pytest.fixture
def onion() -> str:
    return onion_address(os.urandom(32))


class Capture:
    """The node's handler writing to a string; the JSON objects it wrote."""

    def __init__(self, level: str, redaction: LogRedaction) -> None:
        self.stream = io.StringIO()
        self.handler = setup_logging(level, redaction, self.stream)
        self.log = logging.getLogger("gateway.test")

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def strict() -> Iterator[Capture]:
    cap = Capture("debug", ALWAYS)
    yield cap
    teardown_logging(cap.handler)


@pytest.fixture
def standard() -> Iterator[Capture]:
    cap = Capture("debug", DEBUG_ONLY)
    yield cap
    teardown_logging(cap.handler)


# --- the policy ------------------------------------------------------------------------


def test_levels_redact_as_the_policy_says() -> None:
    assert POLICIES[Level.STANDARD].log_redaction is DEBUG_ONLY
    assert POLICIES[Level.HIGH].log_redaction is ALWAYS
    assert POLICIES[Level.PARANOID].log_redaction is ALWAYS


def test_scrubbing_per_redaction_and_level() -> None:
    assert scrubbing(ALWAYS, logging.DEBUG)
    assert scrubbing(ALWAYS, logging.ERROR)
    assert not scrubbing(DEBUG_ONLY, logging.DEBUG)
    assert scrubbing(DEBUG_ONLY, logging.INFO)
    assert scrubbing(DEBUG_ONLY, logging.WARNING)


# --- each rule -------------------------------------------------------------------------


def test_onion_addresses_with_and_without_suffix(onion: str) -> None:
    assert scrub(f"dialing {onion}.onion now") == f"dialing {SCRUBBED} now"
    assert scrub(f"peer={onion}") == f"peer={SCRUBBED}"
    assert scrub(f"({onion.upper()})") == f"({SCRUBBED})"


def test_hex_keys_and_ids() -> None:
    assert scrub(f"identity {KEY.hex()}") == f"identity {SCRUBBED}"
    assert scrub(f"id={os.urandom(8).hex()}X") == f"id={SCRUBBED}X"
    assert scrub("round 1a2b3c4d: late") == f"round {SCRUBBED}: late"  # a short id prefix


def test_numbers_and_words_are_not_ids() -> None:
    kept = (
        "sent 1234567 bytes in 20240101 at 12:30:45, deadbeef rate_limited handshake_DecryptError"
    )
    assert scrub(kept) == kept


def test_base64_and_base32_keys() -> None:
    key = os.urandom(32)
    for encoded in (
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        base64.b32encode(key).decode().rstrip("="),
        base64.b32encode(key).decode().lower().rstrip("="),
    ):
        assert scrub(f"key: {encoded} end") == f"key: {SCRUBBED} end", encoded


def test_client_auth_line() -> None:
    key = base64.b32encode(os.urandom(32)).decode().rstrip("=")
    assert key not in scrub(f"descriptor:x25519:{key}")


def test_invites_in_text_and_link_form() -> None:
    invite = new_invite(Ed25519PrivateKey.generate(), os.urandom(32), os.urandom(32), expires=2**40)
    assert scrub(f"invite {invite.text} pasted") == f"invite {SCRUBBED} pasted"
    assert scrub(f"open {invite.link}") == f"open {SCRUBBED}"


def test_ipv4_except_loopback() -> None:
    assert scrub("from 203.0.113.7:443") == f"from {SCRUBBED}:443"
    assert scrub("lan 192.168.1.20.") == f"lan {SCRUBBED}."
    assert scrub("socks 127.0.0.1:9050") == "socks 127.0.0.1:9050"
    assert scrub("bind 0.0.0.0") == "bind 0.0.0.0"
    assert scrub("tor 0.4.9.11 started") == "tor 0.4.9.11 started"  # a version, not a host


def test_ipv6_except_loopback() -> None:
    assert scrub("via [2001:db8::7]:80") == f"via [{SCRUBBED}]:80"
    assert scrub("link fe80::1c2:3 up") == f"link {SCRUBBED} up"
    assert scrub("mapped ::ffff:198.51.100.2") == f"mapped {SCRUBBED}"
    assert scrub("at 2001:db8::9.") == f"at {SCRUBBED}."
    assert scrub("api on [::1]:8080 and ::") == "api on [::1]:8080 and ::"


def test_scrub_keeps_text_at_debug_under_debug_only(onion: str) -> None:
    assert scrub(onion, DEBUG_ONLY, logging.DEBUG) == onion
    assert scrub(onion, DEBUG_ONLY, logging.INFO) == SCRUBBED
    assert scrub(onion, ALWAYS, logging.DEBUG) == SCRUBBED


@given(st.randoms(use_true_random=False), st.integers(min_value=24, max_value=64))
def test_random_keys_in_every_encoding_are_scrubbed(rnd: random.Random, size: int) -> None:
    key = rnd.randbytes(size)
    forms = [
        key.hex(),
        key.hex().upper(),
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        base64.b32encode(key).decode(),
        base64.b32encode(key).decode().lower().rstrip("="),
    ]
    line = scrub(" ".join(f"k={form}," for form in forms))
    assert find_leaks(line, [key]) == []
    assert line == " ".join(f"k={SCRUBBED}," for _ in forms)


# --- secrets ---------------------------------------------------------------------------


def test_secret_never_prints() -> None:
    body = redact("meet at the usual place")
    assert str(body) == repr(body) == f"{body:>10}" == SCRUBBED
    assert body.reveal() == "meet at the usual place"
    assert redact(body) is body


def test_find_leaks_sees_every_encoding(onion: str) -> None:
    key = os.urandom(32)
    text = f"a {base64.urlsafe_b64encode(key).decode()} b {onion}"
    assert find_leaks(text, [key, onion, "absent text", b"xy"]) == [0, 1]
    assert find_leaks(text.upper(), [os.urandom(32)]) == []


# --- the handler: JSON lines ------------------------------------------------------------


def test_json_lines_have_the_fields(strict: Capture) -> None:
    strict.log.info("peers: %d online", 3, extra={"count": 3, "state": "ok"})
    (record,) = strict.records()
    assert record["level"] == "info"
    assert record["logger"] == "gateway.test"
    assert record["msg"] == "peers: 3 online"
    assert record["count"] == 3 and record["state"] == "ok"
    assert str(record["ts"]).endswith("Z") and "T" in str(record["ts"])


def test_extra_fields_that_clash_are_renamed(strict: Capture) -> None:
    strict.log.warning("x", extra={"level": "mine", "ts": 5})
    (record,) = strict.records()
    assert record["level"] == "warning"
    assert record["extra_level"] == "mine" and record["extra_ts"] == 5


def test_message_and_extras_scrubbed_at_high(strict: Capture, onion: str) -> None:
    strict.log.debug(
        "dial %s",
        onion,
        extra={"peer": onion, "key": KEY, "nested": {"ids": [KEY.hex()]}, "body": redact("hi")},
    )
    (record,) = strict.records()
    assert record["msg"] == f"dial {SCRUBBED}"
    assert record["peer"] == SCRUBBED and record["key"] == SCRUBBED
    assert record["nested"] == {"ids": [SCRUBBED]}
    assert record["body"] == SCRUBBED
    assert find_leaks(strict.text(), [onion, KEY]) == []


def test_secret_arguments_scrubbed_at_high(strict: Capture) -> None:
    strict.log.info("message from a contact: %s", redact("the launch code is 0000"))
    strict.log.info(redact("a whole secret message"))
    strict.log.info("named %(body)s", {"body": redact("dict args")})
    assert "launch" not in strict.text() and "whole" not in strict.text()
    assert "dict args" not in strict.text()
    assert [r["msg"] for r in strict.records()][:2] == [
        f"message from a contact: {SCRUBBED}",
        SCRUBBED,
    ]


def test_tracebacks_scrubbed(strict: Capture, onion: str) -> None:
    try:
        raise ValueError(f"cannot reach {onion}")
    except ValueError:
        strict.log.exception("dial failed")
    (record,) = strict.records()
    assert "ValueError" in str(record["exc"])
    assert onion not in strict.text()


def test_standard_keeps_identifiers_at_debug_only(standard: Capture, onion: str) -> None:
    standard.log.debug("dial %s body %s", onion, redact("hello there"), extra={"key": KEY})
    standard.log.info("dial %s body %s", onion, redact("hello there"), extra={"key": KEY})
    debug, info = standard.records()
    assert debug["msg"] == f"dial {onion} body hello there"
    assert debug["key"] == KEY.hex()
    assert info["msg"] == f"dial {SCRUBBED} body {SCRUBBED}"
    assert info["key"] == SCRUBBED


def test_level_filters_records() -> None:
    stream = io.StringIO()
    handler = setup_logging("warning", ALWAYS, stream)
    try:
        logging.getLogger("gateway.x").info("hidden")
        logging.getLogger("gateway.x").warning("shown")
        logging.getLogger("otherlib").info("hidden too")
    finally:
        teardown_logging(handler)
    assert [json.loads(line)["msg"] for line in stream.getvalue().splitlines()] == ["shown"]


def test_a_library_that_sets_its_own_level_logs_warnings_only() -> None:
    """stem sets its logger to TRACE: at ``info`` its debug and info lines (tor's
    control traffic, 'unrecognized purpose', SocketClosed on a tor restart) stay out."""
    import stem.util.log  # noqa: F401  (sets the 'stem' logger's level, as the node does)

    stream = io.StringIO()
    handler = setup_logging("info", ALWAYS, stream)
    try:
        stem_logger = logging.getLogger("stem")
        assert stem_logger.level < logging.DEBUG
        stem_logger.debug("Sent to tor: GETINFO version")
        stem_logger.info("unrecognized purpose (HS_SERVICE_HSDIR)")
        stem_logger.info("Error while receiving a control message (SocketClosed): empty socket")
        stem_logger.warning("tor said no")
        logging.getLogger("gateway.tor").info("ours")
    finally:
        teardown_logging(handler)
    msgs = [json.loads(line)["msg"] for line in stream.getvalue().splitlines()]
    assert msgs == ["tor said no", "ours"]


def test_other_libraries_are_scrubbed_too(onion: str) -> None:
    stream = io.StringIO()
    handler = setup_logging("info", ALWAYS, stream)
    try:
        logging.getLogger("stem").warning("circuit to %s", onion)
    finally:
        teardown_logging(handler)
    assert "circuit to" in stream.getvalue() and onion not in stream.getvalue()


def test_setup_twice_replaces_and_teardown_restores() -> None:
    root, node = logging.getLogger(), logging.getLogger("gateway")
    before = (root.level, node.level, list(root.handlers))
    first = setup_logging("info", ALWAYS, io.StringIO())
    second = setup_logging("debug", ALWAYS, io.StringIO())
    assert first not in root.handlers and second in root.handlers
    assert node.level == logging.DEBUG
    teardown_logging(second)
    assert (root.level, node.level, list(root.handlers)) == before


def test_plain_text_format_is_scrubbed(onion: str) -> None:
    stream = io.StringIO()
    handler = setup_logging("info", ALWAYS, stream, structured=False)
    try:
        logging.getLogger("gateway.x").info("to %s", onion)
    finally:
        teardown_logging(handler)
    assert stream.getvalue() == f"gateway: INFO gateway.x: to {SCRUBBED}\n"


def test_bad_arguments_still_log(strict: Capture, onion: str) -> None:
    strict.log.info("two %s %s", onion)
    (record,) = strict.records()
    assert "did not fit" in str(record["msg"]) and onion not in strict.text()


def test_bad_level_is_a_config_error() -> None:
    assert parse_level("WARNING") == logging.WARNING
    with pytest.raises(ConfigError, match=r"logging\.level"):
        parse_level("loud")


def test_filter_alone_changes_the_record_in_place(onion: str) -> None:
    record = logging.LogRecord("gateway.t", logging.INFO, __file__, 1, "x %s", (onion,), None)
    assert RedactionFilter(ALWAYS).filter(record)
    assert record.getMessage() == f"x {SCRUBBED}" and record.args is None
    assert isinstance(redact(1), Secret)


def test_a_base64_key_holding_an_onion_like_run_is_scrubbed_whole() -> None:
    # found by hypothesis: 56 base32 characters (mixed case) between '+' and '/' in a key
    key = "y47N7ql4+74w27PI5cBdcT5BfbocuSzueFGGQ6OwSAGFjdoNjg7o5JbMq6Rj2QMSN/BET3ziWyeWR7ke"
    assert scrub(f"k={key},") == f"k={SCRUBBED},"
