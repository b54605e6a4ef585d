"""Read a node's YAML config into a :class:`~gateway.config.schema.GatewayConfig`.

:func:`load_config` is the one place that reads YAML. Every problem raises
:class:`~gateway.errors.ConfigError` naming the file, the dotted key path and
what was expected. Loading starts nothing and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from gateway.config.bridges import build_bridges, build_transports, transports_used
from gateway.config.checks import (
    check_attach,
    check_launch_only,
    check_loopback,
    check_testnet,
    resolve_binary,
)
from gateway.config.effective import dump_effective, overridden_keys
from gateway.config.fields import Section
from gateway.config.levels import level_spec
from gateway.config.memory import build_memory
from gateway.config.schema import (
    ApiConfig,
    ControlConfig,
    GatewayConfig,
    HttpConfig,
    Level,
    LoggingConfig,
    NodeConfig,
    OnionConfig,
    OnTorDeath,
    SecurityConfig,
    TorConfig,
    TorMode,
)
from gateway.config.security import build_security, check_extra_torrc
from gateway.converge.adapters.config import parse_ai_config
from gateway.errors import ConfigError

__all__ = ["dump_effective", "load_config", "load_config_text", "overridden_keys"]

TOP_LEVEL_KEYS = ("node", "security", "tor", "onion", "http", "api", "logging", "memory", "ai")
TOR_KEYS = (
    "mode",
    "binary",
    "testnet",
    "bootstrap_timeout",
    "publish_timeout",
    "on_tor_death",
    "max_restarts",
    "control",
    "socks_port",
    "extra_torrc",
    "bridges",
    "transports",
    "require_bridges",
)
LOG_LEVELS = ("debug", "info", "warning", "error")
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_TIMEOUT = 3600.0


def load_config(path: Path) -> GatewayConfig:
    """Read and check the YAML config at ``path``."""
    path = Path(path).expanduser().absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            path, "", "a config file", detail="there is none: make one with "
            f"'gateway --config {path} init' (or name another with --config PATH)",
        ) from None  # fmt: skip
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(path, "", "a readable UTF-8 YAML file", detail=reason) from None
    return load_config_text(text, path)


def load_config_text(text: str, path: Path) -> GatewayConfig:
    """Check YAML ``text`` as if it were the file at ``path`` (relative paths resolve there)."""
    path = Path(path).expanduser().absolute()
    data = parse_yaml(text, path)
    return build_config(Section(path, "", data))


class _StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses duplicate keys in a mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Hashable, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, path: Path) -> dict[str, object]:
    """Parse YAML ``text``; the top level must be a mapping with string keys."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, "", "valid YAML", detail=f"{line}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", "valid YAML", detail=str(exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(path, "", "a mapping of sections (node, security, tor, ...)", data)
    _check_string_keys(path, "", data)
    return data


def _check_string_keys(path: Path, prefix: str, data: dict[Any, Any]) -> None:
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if not isinstance(key, str):
            raise ConfigError(path, where, "string keys", key)
        if isinstance(value, dict):
            _check_string_keys(path, where, value)


def build_config(top: Section) -> GatewayConfig:
    """Build and check every section of the config."""
    top.check_keys(TOP_LEVEL_KEYS)
    security = build_security(top.sub("security"))
    return GatewayConfig(
        source=top.file,
        node=_node(top.sub("node")),
        security=security,
        tor=_tor(top.sub("tor"), security),
        onion=OnionConfig(virtual_port=_onion_port(top.sub("onion"))),
        http=_http(top.sub("http")),
        logging=_logging(top.sub("logging")),
        memory=build_memory(top.sub("memory"), paranoid=security.level is Level.PARANOID),
        ai=parse_ai_config(top.data.get("ai"), file=top.file),
        api=_api(top.sub("api")),
    )


def _node(section: Section) -> NodeConfig:
    section.check_keys(("name", "state_dir"))
    name = section.string("name", "node")
    if not _NODE_NAME.fullmatch(name):
        raise section.error("name", "1-64 letters, digits, '.', '_' or '-'", name)
    return NodeConfig(name=name, state_dir=section.path("state_dir", "state"))


def _tor(section: Section, security: SecurityConfig) -> TorConfig:
    section.check_keys(TOR_KEYS)
    mode = section.enum("mode", TorMode, TorMode.LAUNCH)
    control = _control(section.sub("control"))
    testnet = section.opt_path("testnet")
    if testnet is not None:
        check_testnet(section, "testnet", testnet)
    extra = check_extra_torrc(section, level_spec(security.level))
    transports = build_transports(section.sub("transports"))
    bridges = build_bridges(section, transports)
    require_bridges = section.boolean("require_bridges", False)
    if require_bridges and not bridges:
        raise section.error(
            "bridges", "at least one bridge line", [], "tor.require_bridges is true"
        )
    if mode is TorMode.LAUNCH:
        binary = resolve_binary(section, "binary")
        check_launch_only(section, control)
    else:
        binary = section.string("binary", "tor")
        check_attach(section, control)
        if extra:
            raise section.error(
                "extra_torrc", "an empty list in attach mode", list(extra), "launch mode only"
            )
        if bridges:
            raise section.error(
                "bridges", "an empty list in attach mode", len(bridges),
                "the attached tor's own torrc sets its bridges",
            )  # fmt: skip
    return TorConfig(
        mode=mode,
        binary=binary,
        testnet=testnet,
        bootstrap_timeout=section.number("bootstrap_timeout", 120.0, 0.0, MAX_TIMEOUT),
        publish_timeout=section.number("publish_timeout", 60.0, 0.0, MAX_TIMEOUT),
        on_tor_death=section.enum("on_tor_death", OnTorDeath, OnTorDeath.RESTART),
        max_restarts=section.integer("max_restarts", 3, 0, 100),
        control=control,
        socks_port=section.opt_integer("socks_port", 1, 65535),
        extra_torrc=extra,
        bridges=bridges,
        transports=tuple(transports_used(bridges, transports).items()),
        require_bridges=require_bridges,
    )


def _control(section: Section) -> ControlConfig:
    section.check_keys(("port", "socket", "password_env", "cookie_path"))
    password_env = section.opt_string("password_env")
    if password_env is not None and not _ENV_NAME.fullmatch(password_env):
        raise section.error("password_env", "an environment variable name", password_env)
    return ControlConfig(
        port=section.opt_integer("port", 1, 65535),
        socket=section.opt_path("socket"),
        password_env=password_env,
        cookie_path=section.opt_path("cookie_path"),
    )


def _onion_port(section: Section) -> int:
    section.check_keys(("virtual_port",))
    return section.integer("virtual_port", 80, 1, 65535)


def _http(section: Section) -> HttpConfig:
    section.check_keys(("host", "port"))
    host = check_loopback(section, "host")
    return HttpConfig(host=host, port=section.integer("port", 0, 0, 65535))


def _api(section: Section) -> ApiConfig:
    section.check_keys(("rate_limit", "burst"))
    return ApiConfig(
        rate_limit=section.integer("rate_limit", 200, 1, 100_000),
        burst=section.integer("burst", 400, 1, 100_000),
    )


def _logging(section: Section) -> LoggingConfig:
    section.check_keys(("level",))
    return LoggingConfig(level=section.choice("level", LOG_LEVELS, "info"))
