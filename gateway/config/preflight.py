"""Checks of a loaded config against the running machine, made just before ``gateway run``.

:func:`gateway.config.loader.load_config` checks what the file says; this checks
what can only be known at start time (a fixed port another process holds), so
that reading the config (``gateway config show``, ``gateway invite``) still works
while the node itself holds its port. Failures are ConfigErrors (exit status 2)
and come before anything is started or written.
"""

from __future__ import annotations

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
