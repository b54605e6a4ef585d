"""The effective settings of a loaded config, as plain data (for ``gateway config show``)."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import Any

from gateway.config.levels import POLICY_FIELDS
from gateway.config.memory import EVERYONE
from gateway.config.schema import GatewayConfig, MemoryConfig
from gateway.memory.spaces import DEFAULT_SPACE


def _plain(value: object) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}  # type: ignore[arg-type]
    return value


def dump_effective(cfg: GatewayConfig) -> dict[str, Any]:
    """Every effective setting as JSON-ready data; ``security.tor`` maps option -> value."""
    sec = cfg.security
    return {
        "source": str(cfg.source),
        "node": _plain(cfg.node),
        "security": {
            "level": sec.level.value,
            "policy": {name: _plain(getattr(sec.policy, name)) for name in POLICY_FIELDS},
            "tor": dict(sec.tor_options),
        },
        "tor": _plain(cfg.tor),
        "onion": _plain(cfg.onion),
        "http": _plain(cfg.http),
        "api": _plain(cfg.api),
        "logging": _plain(cfg.logging),
        "memory": _memory(cfg.memory),
        "ai": _plain(cfg.ai),
    }


def _memory(memory: MemoryConfig) -> dict[str, Any]:
    """The memory section, its spaces as the YAML writes them (name -> ``all`` or contacts),
    with the ``default`` space (shared with every contact) unless the config redefines it."""
    out: dict[str, Any] = _plain(memory)
    spaces: dict[str, Any] = {DEFAULT_SPACE: EVERYONE}
    for space in memory.spaces:
        spaces[space.name] = EVERYONE if space.members is None else list(space.members)
    out["spaces"] = spaces
    return out


def overridden_keys(cfg: GatewayConfig) -> frozenset[str]:
    """Dotted paths in :func:`dump_effective` whose values came from overrides."""
    return frozenset(f"security.{key}" for key in cfg.security.overridden)


def flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted.key, value)`` pairs of nested mappings, in order."""
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            out.extend(flatten(value, path))
        else:
            out.append((path, value))
    return out
