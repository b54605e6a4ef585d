"""Checks of a loaded config against the running machine, made just before ``gateway run``.

:func:`gateway.config.loader.load_config` checks what the file says; this checks
what can only be known at start time (a fixed port another process holds), so
that reading the config (``gateway config show``, ``gateway invite``) still works
while the node itself holds its port. Failures are ConfigErrors (exit status 2)
and come before anything is started or written.
"""

from __future__ import annotations

import shutil

from gateway.config.bridges import PACKAGES
from gateway.config.checks import port_in_use
from gateway.config.schema import GatewayConfig
from gateway.errors import ConfigError


def preflight(cfg: GatewayConfig) -> None:
    """Raise ConfigError if the node could not start with ``cfg`` on this machine now."""
    reason = port_in_use(cfg.http.host, cfg.http.port)
    if reason is not None:
        raise ConfigError(
            cfg.source, "http.port", "a free port (or 0 to pick one)", cfg.http.port, detail=reason
        )
    preflight_transports(cfg)


def preflight_transports(cfg: GatewayConfig) -> None:
    """ConfigError unless each transport the bridges use has its client binary."""
    for transport, binary in cfg.tor.transports:
        if shutil.which(binary) is None:
            package = PACKAGES.get(binary)
            how = f"install Debian's '{package}' package" if package else "install it"
            raise ConfigError(
                cfg.source,
                f"tor.transports.{transport}",
                f"the {transport} client binary (a name on PATH or a path)",
                binary,
                detail=f"tor.bridges use {transport}, and {binary!r} is not there: {how}, "
                f"or name another binary in tor.transports.{transport}",
            )
