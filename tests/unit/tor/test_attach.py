from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.levels import POLICIES
from gateway.config.schema import (
    ControlConfig,
    GatewayConfig,
    HttpConfig,
    Level,
    LoggingConfig,
    NodeConfig,
    OnionConfig,
    SecurityConfig,
    TorConfig,
    TorMode,
)
from gateway.errors import ControlError, TorCapabilityError
from gateway.tor import attach
from tests.unit.tor.fakes import FakeControl

NAMES = (
    "SafeLogging String\nConnectionPadding Autobool\nHiddenServicePoWDefensesEnabled Dependent\n"
)


def config(level: Level, options: tuple[tuple[str, str], ...], **tor: object) -> GatewayConfig:
    return GatewayConfig(
        source=Path("/cfg/node.yaml"),
        node=NodeConfig(state_dir=Path("/state")),
        security=SecurityConfig(level, POLICIES[level], options),
        tor=TorConfig(mode=TorMode.ATTACH, **tor),  # type: ignore[arg-type]
        onion=OnionConfig(),
        http=HttpConfig(),
        logging=LoggingConfig(),
    )


def control() -> FakeControl:
    fake = FakeControl()
    fake.info["config/names"] = NAMES
    fake.info["net/listeners/socks"] = '"127.0.0.1:9150" "[::1]:9151"'
    fake.conf = {"SafeLogging": ["1"], "ConnectionPadding": ["auto"]}
    return fake


def test_password_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_PW", "s3cret")
    assert attach.control_password("GW_TEST_PW") == "s3cret"
    assert attach.control_password(None) is None


def test_missing_password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_TEST_PW", raising=False)
    with pytest.raises(ControlError, match="GW_TEST_PW"):
        attach.control_password("GW_TEST_PW")


async def test_attach_needs_socket_or_port() -> None:
    with pytest.raises(ControlError, match=r"tor\.control\.socket or tor\.control\.port"):
        await attach.connect_attached(config(Level.STANDARD, ()))


async def test_socks_port_from_listeners_or_config() -> None:
    fake = control()
    assert await attach.attached_socks_port(config(Level.STANDARD, ()), fake) == 9150  # type: ignore[arg-type]
    cfg = config(Level.STANDARD, (), socks_port=9999)
    assert await attach.attached_socks_port(cfg, fake) == 9999  # type: ignore[arg-type]


async def test_paranoid_refuses_and_names_what_is_missing() -> None:
    cfg = config(
        Level.PARANOID,
        (("SafeLogging", "1"), ("ConnectionPadding", "1"), ("Sandbox", "1")),
        control=ControlConfig(port=9051),
    )
    with pytest.raises(TorCapabilityError) as info:
        await attach.check_attached(cfg, control())  # type: ignore[arg-type]
    assert info.value.missing == (
        "ConnectionPadding 1 (attached tor has auto)",
        "Sandbox (unknown to this tor)",
    )


async def test_standard_warns_but_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(Level.STANDARD, (("ConnectionPadding", "1"),))
    report = await attach.check_attached(cfg, control())  # type: ignore[arg-type]
    assert not report.ok
    assert any("ConnectionPadding 1" in r.getMessage() for r in caplog.records)


async def test_high_applies_per_service_options_via_torrc() -> None:
    cfg = config(Level.HIGH, (("SafeLogging", "1"), ("HiddenServicePoWDefensesEnabled", "1")))
    report = await attach.gather_capabilities(cfg, control())  # type: ignore[arg-type]
    assert report.ok
