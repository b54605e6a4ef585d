"""The built-in levels: policies, tor options from torrc.d, ordering of strength."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import levels
from gateway.config.levels import (
    POLICIES,
    POLICY_FIELDS,
    POLICY_ORDER,
    is_weaker,
    level_spec,
    torrc_dir,
)
from gateway.config.schema import (
    ApiTransport,
    CoverTraffic,
    Level,
    OnionProvisioning,
    PaddingMode,
)
from gateway.config.tor_options import PER_SERVICE, canonical_name, is_per_service
from gateway.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def test_torrc_dir_is_found_from_the_checkout() -> None:
    # inside the package: gateway/config/torrc.d links to the checkout's torrc.d (and a
    # wheel holds the files themselves there)
    assert torrc_dir() == REPO / "gateway" / "config" / "torrc.d"
    assert torrc_dir().resolve() == (REPO / "torrc.d").resolve()
    for name in ("base", "standard", "high", "paranoid"):
        assert (torrc_dir() / f"{name}.conf").is_file()


def test_torrc_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(levels.TORRC_DIR_ENV, str(tmp_path))
    (tmp_path / "standard.conf").write_text("SafeLogging 1\nNumEntryGuards 2\n")
    spec = level_spec(Level.STANDARD)
    assert spec.tor_options == (("SafeLogging", "1"), ("NumEntryGuards", "2"))


def test_missing_level_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(levels.TORRC_DIR_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match=r"high\.conf"):
        level_spec(Level.HIGH)


def test_policy_table_matches_the_levels() -> None:
    std, high, par = (POLICIES[lv] for lv in Level)
    assert (std.padding_mode, high.padding_mode, par.padding_mode) == (
        PaddingMode.PADME_CELLS,
        PaddingMode.BUCKETS,
        PaddingMode.FIXED,
    )
    assert par.cover_traffic is CoverTraffic.CONSTANT_RATE
    assert high.cover_traffic is CoverTraffic.FRONT
    assert std.onion_provisioning is OnionProvisioning.EPHEMERAL
    assert high.onion_provisioning is par.onion_provisioning is OnionProvisioning.TORRC
    assert par.api_transport is ApiTransport.UNIX and high.api_transport is ApiTransport.TCP
    assert par.client_auth_required and not high.client_auth_required
    assert par.post_quantum and not high.post_quantum
    for level, policy in POLICIES.items():
        assert policy.level is level


@pytest.mark.parametrize(
    ("weaker", "stronger"), [(Level.STANDARD, Level.HIGH), (Level.HIGH, Level.PARANOID)]
)
def test_each_level_is_at_least_as_strong_as_the_one_below(weaker: Level, stronger: Level) -> None:
    for name in POLICY_FIELDS:
        low = getattr(POLICIES[weaker], name)
        high = getattr(POLICIES[stronger], name)
        assert not is_weaker(name, high, low), name


def test_paranoid_has_all_tor_options_of_high() -> None:
    high = dict(level_spec(Level.HIGH).tor_options)
    paranoid = dict(level_spec(Level.PARANOID).tor_options)
    assert high.items() <= paranoid.items()
    assert paranoid["Sandbox"] == "1"


def test_level_tor_options() -> None:
    std = dict(level_spec(Level.STANDARD).tor_options)
    high = dict(level_spec(Level.HIGH).tor_options)
    assert std == {"SafeLogging": "1"}
    assert high["HiddenServicePoWDefensesEnabled"] == "1"
    assert high["HiddenServiceEnableIntroDoSDefense"] == "1"
    assert high["ConnectionPadding"] == "1"


@pytest.mark.parametrize("level", list(Level))
def test_level_options_are_known_and_service_ones_come_last(level: Level) -> None:
    names = [name for name, _ in level_spec(level).tor_options]
    for name in names:
        assert canonical_name(name) == name
    flags = [is_per_service(n) for n in names]
    assert flags == sorted(flags)  # all global options before the per-service ones


def test_policy_order_covers_every_field_and_value() -> None:
    assert set(POLICY_ORDER) == set(POLICY_FIELDS)
    for name in POLICY_FIELDS:
        for policy in POLICIES.values():
            assert getattr(policy, name) in POLICY_ORDER[name]


def test_per_service_set() -> None:
    assert "HiddenServicePoWDefensesEnabled" in PER_SERVICE
    assert "HiddenServiceDir" in PER_SERVICE
    assert "HiddenServiceNonAnonymousMode" not in PER_SERVICE
    assert "SafeLogging" not in PER_SERVICE


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("HiddenServicePoWDefensesEnabled 1\n", "under [service]"),
        ("[service]\nSafeLogging 1\n", "under [global]"),
        ("ControlPort 9051\n", "does not own"),
        ("NoSuchOption 1\n", "does not own"),
        ("SafeLogging\n", "Option value"),
        ("SafeLogging 1\nSafeLogging 0\n", "once"),
        ("HiddenServiceSingleHopMode 1\n", "does not own"),
    ],
)
def test_bad_level_file_lines_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, fragment: str
) -> None:
    monkeypatch.setenv(levels.TORRC_DIR_ENV, str(tmp_path))
    (tmp_path / "standard.conf").write_text(f"# comment\n{text}")
    with pytest.raises(ConfigError, match=r"line \d") as info:
        level_spec(Level.STANDARD)
    assert fragment in str(info.value)
