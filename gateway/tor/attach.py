"""Using an already running tor: connect, authenticate, check what it can do."""

from __future__ import annotations

import logging
import os

from gateway.config.schema import GatewayConfig, OnionProvisioning
from gateway.errors import ControlError
from gateway.tor.capabilities import (
    CapabilityReport,
    check_capabilities,
    enforce,
    is_per_service,
    parse_config_names,
)
from gateway.tor.controller import TorControl

log = logging.getLogger("gateway.tor")


def control_password(env_name: str | None) -> str | None:
    """The control password from the environment variable named in the config."""
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise ControlError(
            f"tor.control.password_env names {env_name!r}, but that variable is not set"
        )
    return value


async def connect_attached(cfg: GatewayConfig) -> TorControl:
    """Connect to the tor named in ``tor.control`` (socket preferred over port)."""
    control = cfg.tor.control
    if control.socket is None and control.port is None:
        raise ControlError("attach mode needs tor.control.socket or tor.control.port")
    return await TorControl.connect(
        socket_path=control.socket,
        port=None if control.socket is not None else control.port,
        password=control_password(control.password_env),
        cookie_path=control.cookie_path,
    )


async def attached_socks_port(cfg: GatewayConfig, control: TorControl) -> int | None:
    """The attached tor's SOCKS port: from the config, else the first loopback listener."""
    if cfg.tor.socks_port is not None:
        return cfg.tor.socks_port
    listeners = (await control.get_info("net/listeners/socks")).split()
    for item in listeners:
        host, _, port = item.strip('"').rpartition(":")
        if host in ("127.0.0.1", "[::1]") and port.isdigit():
            return int(port)
    return None


async def gather_capabilities(cfg: GatewayConfig, control: TorControl) -> CapabilityReport:
    """Ask the attached tor about the level's options (config/names, GETCONF, version)."""
    options = cfg.security.tor_options
    known = parse_config_names(await control.get_info("config/names"))
    current: dict[str, list[str]] = {}
    for name, _value in options:
        if name.lower() in known and not is_per_service(name) and name not in current:
            current[name] = await control.get_conf(name)
    torrc_provisioning = cfg.security.policy.onion_provisioning is OnionProvisioning.TORRC
    return check_capabilities(
        options,
        known=known,
        current=current,
        version=await control.version(),
        per_service_supported=torrc_provisioning,
    )


async def check_attached(cfg: GatewayConfig, control: TorControl) -> CapabilityReport:
    """Gather and enforce: TorCapabilityError at PARANOID, warnings below."""
    report = await gather_capabilities(cfg, control)
    enforce(report, cfg.security.level, log)
    return report
