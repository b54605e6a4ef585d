"""Render the torrc of a node's own tor (launch mode).

Order: ``torrc.d/base.conf`` with the node's paths and ports, the testnet's
``client.conf`` verbatim (if ``tor.testnet``), the bridges (``UseBridges``,
``ClientTransportPlugin``, ``Bridge`` lines, if ``tor.bridges``), the level's global options (with
overrides), ``ClientOnionAuthDir`` (if set), the HiddenServiceDir block with
the level's per-service options (when the onion service is provisioned in the
torrc), then ``tor.extra_torrc``. Reads base.conf and client.conf; writes nothing.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway.config.bridges import bridge_torrc_lines
from gateway.config.levels import torrc_dir
from gateway.config.schema import GatewayConfig, OnionProvisioning
from gateway.config.tor_options import bad_value_char, is_per_service
from gateway.errors import ConfigError

#: the longest unix socket path Linux accepts (sun_path is 108 bytes with the NUL)
MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class TorrcContext:
    """What the node decided at launch: where tor keeps its state and listens."""

    data_dir: Path
    control_socket: Path
    socks_port: int
    hidden_service_dir: Path | None = None  # set when policy.onion_provisioning is TORRC
    hidden_service_target_port: int | None = None  # local 127.0.0.1 port behind the onion
    client_onion_auth_dir: Path | None = None  # ClientOnionAuthDir (rendered if set)


def render_torrc(cfg: GatewayConfig, ctx: TorrcContext) -> str:
    """The full torrc text for ``cfg`` in the launch context ``ctx``."""
    sections = [
        _base(cfg, ctx),
        _testnet(cfg),
        bridge_torrc_lines(cfg.tor.bridges, cfg.tor.transports),
        _options(o for o in cfg.security.tor_options if not is_per_service(o[0])),
        _client_auth(cfg, ctx),
        _hidden_service(cfg, ctx),
        list(cfg.tor.extra_torrc),
    ]
    lines = [line for section in sections for line in section]
    for line in lines:
        if bad_value_char(line) is not None:
            raise ConfigError(cfg.source, "tor", "torrc lines without control characters", line)
    return "\n".join(lines) + "\n"


def _path_value(cfg: GatewayConfig, key: str, path: Path) -> str:
    text = str(path)
    if not path.is_absolute() or any(c.isspace() or c == '"' for c in text):
        raise ConfigError(cfg.source, key, "an absolute path without spaces or quotes", text)
    if bad_value_char(text) is not None:
        raise ConfigError(cfg.source, key, "a path without control characters", text)
    return text


def _base(cfg: GatewayConfig, ctx: TorrcContext) -> list[str]:
    socket_path = _path_value(cfg, "node.state_dir", ctx.control_socket)
    if len(socket_path.encode()) > MAX_SOCKET_PATH:
        raise ConfigError(
            cfg.source,
            "node.state_dir",
            f"a control socket path of at most {MAX_SOCKET_PATH} bytes (use a shorter state_dir)",
            socket_path,
        )
    if not 1 <= ctx.socks_port <= 65535:
        raise ConfigError(cfg.source, "tor.socks_port", "a port from 1 to 65535", ctx.socks_port)
    base = torrc_dir() / "base.conf"
    template = string.Template("\n".join(_content_lines(_read(cfg, base, "tor"))))
    try:
        text = template.substitute(
            data_dir=_path_value(cfg, "node.state_dir", ctx.data_dir),
            control_socket=f"unix:{socket_path}",
            socks_port=str(ctx.socks_port),
            # ExtendedErrors: tor says why an onion failed (e.g. missing client authorization)
            socks_flags=" ExtendedErrors"
            + (" IsolateSOCKSAuth" if cfg.security.policy.stream_isolation else ""),
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(base, "tor", "known ${...} placeholders", detail=str(exc)) from None
    return text.splitlines()


def _testnet(cfg: GatewayConfig) -> list[str]:
    if cfg.tor.testnet is None:
        return []
    return _read(cfg, cfg.tor.testnet / "client.conf", "tor.testnet").splitlines()


def _read(cfg: GatewayConfig, path: Path, key: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, key, "a readable UTF-8 file", detail=str(exc)) from None


def _content_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _options(options: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{name} {value}" for name, value in options]


def _client_auth(cfg: GatewayConfig, ctx: TorrcContext) -> list[str]:
    if ctx.client_onion_auth_dir is None:
        return []
    path = _path_value(cfg, "node.state_dir", ctx.client_onion_auth_dir)
    return [f"ClientOnionAuthDir {path}"]


#: per-service options every torrc-provisioned gateway service has: tor writes a PROXY
#: line with the client circuit's id before each stream (per-circuit handshake limits)
NODE_SERVICE_OPTIONS: tuple[tuple[str, str], ...] = (("HiddenServiceExportCircuitID", "haproxy"),)


def _hidden_service(cfg: GatewayConfig, ctx: TorrcContext) -> list[str]:
    torrc_mode = cfg.security.policy.onion_provisioning is OnionProvisioning.TORRC
    if ctx.hidden_service_dir is None:
        if torrc_mode:
            raise ConfigError(
                cfg.source,
                "security.policy.onion_provisioning",
                "a hidden service dir in the torrc context when provisioning is 'torrc'",
            )
        return []
    target = ctx.hidden_service_target_port
    if target is None or not 1 <= target <= 65535:
        raise ConfigError(cfg.source, "http.port", "a target port from 1 to 65535", target)
    hs_dir = _path_value(cfg, "node.state_dir", ctx.hidden_service_dir)
    lines = [
        f"HiddenServiceDir {hs_dir}",
        f"HiddenServicePort {cfg.onion.virtual_port} 127.0.0.1:{target}",
        "HiddenServiceVersion 3",
        *(f"{name} {value}" for name, value in NODE_SERVICE_OPTIONS),
    ]
    return lines + _options(o for o in cfg.security.tor_options if is_per_service(o[0]))
