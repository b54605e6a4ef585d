"""The built-in security levels: app-layer policy and tor options of each.

The policies are a table in this module; the tor options are read from
``torrc.d/<level>.conf``. :data:`POLICY_ORDER` ranks the values of every policy
field from weakest to strongest, which is how a PARANOID override is judged.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path

from gateway.config.schema import (
    ApiTransport,
    CoverTraffic,
    Level,
    LogRedaction,
    OnionProvisioning,
    PaddingMode,
    SecurityPolicy,
)
from gateway.config.tor_options import (
    ILLEGAL,
    OWNED,
    bad_value_char,
    canonical_name,
    is_per_service,
    split_line,
)
from gateway.errors import ConfigError

#: environment variable that points at another torrc.d directory
TORRC_DIR_ENV = "GATEWAY_TORRC_DIR"

POLICIES: dict[Level, SecurityPolicy] = {
    Level.STANDARD: SecurityPolicy(
        level=Level.STANDARD,
        padding_mode=PaddingMode.PADME_CELLS,
        cover_traffic=CoverTraffic.NONE,
        header_encryption=False,
        client_auth_required=False,
        api_transport=ApiTransport.TCP,
        log_redaction=LogRedaction.DEBUG_ONLY,
        stream_isolation=False,
        post_quantum=False,
        onion_provisioning=OnionProvisioning.EPHEMERAL,
    ),
    Level.HIGH: SecurityPolicy(
        level=Level.HIGH,
        padding_mode=PaddingMode.BUCKETS,
        cover_traffic=CoverTraffic.FRONT,
        header_encryption=True,
        client_auth_required=False,
        api_transport=ApiTransport.TCP,
        log_redaction=LogRedaction.ALWAYS,
        stream_isolation=True,
        post_quantum=False,
        onion_provisioning=OnionProvisioning.TORRC,
    ),
    Level.PARANOID: SecurityPolicy(
        level=Level.PARANOID,
        padding_mode=PaddingMode.FIXED,
        cover_traffic=CoverTraffic.CONSTANT_RATE,
        header_encryption=True,
        client_auth_required=True,
        api_transport=ApiTransport.UNIX,
        log_redaction=LogRedaction.ALWAYS,
        stream_isolation=True,
        post_quantum=True,
        onion_provisioning=OnionProvisioning.TORRC,
    ),
}

#: every policy field's values, weakest first
POLICY_ORDER: dict[str, tuple[object, ...]] = {
    "padding_mode": (PaddingMode.PADME_CELLS, PaddingMode.BUCKETS, PaddingMode.FIXED),
    "cover_traffic": (CoverTraffic.NONE, CoverTraffic.FRONT, CoverTraffic.CONSTANT_RATE),
    "header_encryption": (False, True),
    "client_auth_required": (False, True),
    "api_transport": (ApiTransport.TCP, ApiTransport.UNIX),
    "log_redaction": (LogRedaction.DEBUG_ONLY, LogRedaction.ALWAYS),
    "stream_isolation": (False, True),
    "post_quantum": (False, True),
    "onion_provisioning": (OnionProvisioning.EPHEMERAL, OnionProvisioning.TORRC),
}

#: the policy fields a config may override (every field but ``level``)
POLICY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SecurityPolicy) if f.name != "level")

#: the type of every overridable policy field: an Enum class or ``bool``
POLICY_TYPES: dict[str, type] = {
    name: type(getattr(POLICIES[Level.STANDARD], name)) for name in POLICY_FIELDS
}


@dataclass(frozen=True)
class LevelSpec:
    """A level as built in: its policy and its tor options (global ones first)."""

    level: Level
    policy: SecurityPolicy
    tor_options: tuple[tuple[str, str], ...]
    source: Path


def torrc_dir() -> Path:
    """The torrc.d directory: $GATEWAY_TORRC_DIR, inside the package, or at the repo root."""
    env = os.environ.get(TORRC_DIR_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    packaged = here.parent / "torrc.d"
    if packaged.is_dir():
        return packaged
    return here.parents[2] / "torrc.d"


def is_weaker(field_name: str, value: object, than: object) -> bool:
    """Whether ``value`` is weaker than ``than`` for the policy field ``field_name``."""
    order = POLICY_ORDER[field_name]
    return order.index(value) < order.index(than)


def level_spec(level: Level) -> LevelSpec:
    """The built-in spec of ``level`` (tor options read from torrc.d/<level>.conf)."""
    path = torrc_dir() / f"{level.value}.conf"
    return LevelSpec(level, POLICIES[level], _read_level_file(path), path)


def _read_level_file(path: Path) -> tuple[tuple[str, str], ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "security.level", "a readable level file", detail=f"{exc}") from exc
    return _parse_level_text(text, path)


@functools.lru_cache(maxsize=16)
def _parse_level_text(text: str, path: Path) -> tuple[tuple[str, str], ...]:
    """Parse a level file: global options first, then the ``[service]`` ones, in order."""
    global_opts: list[tuple[str, str]] = []
    service_opts: list[tuple[str, str]] = []
    section = "global"
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {lineno}"
        if line in ("[global]", "[service]"):
            section = line[1:-1]
            continue
        seen = {n for n, _ in global_opts + service_opts}
        known, value = _level_line(path, where, line, seen)
        if is_per_service(known) != (section == "service"):
            right = "service" if is_per_service(known) else "global"
            raise ConfigError(path, where, f"{known} under [{right}]", line)
        (service_opts if section == "service" else global_opts).append((known, value))
    return tuple(global_opts + service_opts)


def _level_line(path: Path, where: str, line: str, seen: set[str]) -> tuple[str, str]:
    """Tor's spelling and the value of one level-file line; refuses what a level may not set."""
    name, value = split_line(line)
    known = canonical_name(name)
    if known is None or known in OWNED or known in ILLEGAL or known in seen:
        raise ConfigError(
            path, where, "'Option value', once, with a tor option the node does not own", line
        )
    if not value or bad_value_char(value) is not None:
        raise ConfigError(path, where, "'Option value' with a one-line value", line)
    return known, value


def policy_value_name(value: object) -> str:
    """How a policy value is written in YAML and shown to people."""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
