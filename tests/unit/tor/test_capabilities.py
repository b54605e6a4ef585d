from __future__ import annotations

import logging

import pytest

from gateway.config.schema import Level
from gateway.errors import TorCapabilityError
from gateway.tor.capabilities import (
    CapabilityReport,
    check_capabilities,
    enforce,
    is_per_service,
    parse_config_names,
    parse_version,
)

NAMES = """SafeLogging String
ConnectionPadding Autobool
Sandbox Boolean
HiddenServicePoWDefensesEnabled Dependent
HiddenServiceDir Dependent
"""
KNOWN = parse_config_names(NAMES)
OPTIONS = (
    ("SafeLogging", "1"),
    ("ConnectionPadding", "1"),
    ("HiddenServicePoWDefensesEnabled", "1"),
)


def test_parse_config_names_and_version() -> None:
    assert "connectionpadding" in KNOWN and "hiddenservicedir" in KNOWN
    assert parse_version("0.4.9.11 (git-abc)") == (0, 4, 9, 11)
    assert parse_version("Tor 0.4.8.1-alpha") == (0, 4, 8, 1)
    assert parse_version("nonsense") == ()


def test_per_service_options() -> None:
    assert is_per_service("HiddenServicePoWDefensesEnabled")
    assert is_per_service("hiddenserviceenableintrodosdefense")
    assert not is_per_service("HiddenServiceSingleHopMode")
    assert not is_per_service("SafeLogging")


def test_all_present_is_ok() -> None:
    report = check_capabilities(
        OPTIONS,
        known=KNOWN,
        current={"SafeLogging": ["1"], "ConnectionPadding": ["1"]},
        version="0.4.9.11",
        per_service_supported=True,
    )
    assert report.ok and report.missing == ()


def test_unknown_mismatched_and_old_version() -> None:
    report = check_capabilities(
        (*OPTIONS, ("VanguardsLiteEnabled", "1")),
        known=KNOWN,
        current={"SafeLogging": ["1"], "ConnectionPadding": ["auto"]},
        version="0.4.7.13",
        per_service_supported=True,
    )
    assert report.missing == (
        "tor >= 0.4.8 (attached tor is 0.4.7.13)",
        "ConnectionPadding 1 (attached tor has auto)",
        "VanguardsLiteEnabled (unknown to this tor)",
    )


def test_per_service_option_needs_torrc_provisioning() -> None:
    report = check_capabilities(
        OPTIONS[2:], known=KNOWN, current={}, version="0.4.9.1", per_service_supported=False
    )
    assert report.missing == (
        "HiddenServicePoWDefensesEnabled (needs policy.onion_provisioning: torrc)",
    )


def test_unset_global_option_is_named() -> None:
    report = check_capabilities(
        (("Sandbox", "1"),), known=KNOWN, current={}, version="0.4.9.1", per_service_supported=True
    )
    assert report.missing == ("Sandbox 1 (attached tor has unset)",)


def test_enforce_paranoid_refuses() -> None:
    report = CapabilityReport("0.4.9.1", ("Sandbox 1 (attached tor has 0)",))
    with pytest.raises(TorCapabilityError) as info:
        enforce(report, Level.PARANOID, logging.getLogger("t"))
    assert info.value.missing == report.missing
    assert "Sandbox 1" in str(info.value)


@pytest.mark.parametrize("level", [Level.STANDARD, Level.HIGH])
def test_enforce_lower_levels_warn_each(level: Level, caplog: pytest.LogCaptureFixture) -> None:
    report = CapabilityReport("0.4.9.1", ("A (unknown to this tor)", "B 1 (attached tor has 0)"))
    with caplog.at_level(logging.WARNING, logger="t"):
        enforce(report, level, logging.getLogger("t"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "A (unknown" in messages[0] and "B 1" in messages[1]


def test_enforce_ok_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    enforce(CapabilityReport("0.4.9.1", ()), Level.PARANOID, logging.getLogger("t"))
    assert caplog.records == []
