"""Build a :class:`SecurityConfig` from a level and the YAML's overrides.

Overrides replace single settings: ``security.overrides.policy.<field>`` and
``security.overrides.tor.<Option>``. At PARANOID an override may only keep or
strengthen a setting; there is no fall back to weaker settings.
"""

from __future__ import annotations

import dataclasses
from enum import Enum

from gateway.config.fields import Section, suggest
from gateway.config.levels import (
    POLICY_FIELDS,
    POLICY_ORDER,
    POLICY_TYPES,
    LevelSpec,
    is_weaker,
    level_spec,
    policy_value_name,
)
from gateway.config.schema import Level, OnionProvisioning, SecurityConfig, SecurityPolicy
from gateway.config.tor_option_names import TOR_OPTIONS
from gateway.config.tor_options import (
    ILLEGAL,
    OWNED,
    bad_value_char,
    canonical_name,
    is_per_service,
    split_line,
    weakens,
)
from gateway.errors import ConfigError

NO_FALL_BACK = "no fall back to weaker settings at paranoid"

TorOptions = tuple[tuple[str, str], ...]


def build_security(section: Section) -> SecurityConfig:
    """The level named in ``section`` with its overrides applied and remembered."""
    section.check_keys(("level", "overrides"))
    level = section.enum("level", Level, Level.STANDARD)
    overrides = section.sub("overrides")
    overrides.check_keys(("policy", "tor"))
    spec = level_spec(level)
    policy, policy_keys = _override_policy(spec, overrides.sub("policy"))
    tor_options, tor_keys = _override_tor(spec, overrides.sub("tor"))
    _check_provisioning(overrides, policy, tor_options, policy_keys)
    overridden = frozenset({f"policy.{k}" for k in policy_keys} | {f"tor.{k}" for k in tor_keys})
    return SecurityConfig(level, policy, tor_options, overridden)


def _override_policy(spec: LevelSpec, section: Section) -> tuple[SecurityPolicy, set[str]]:
    section.check_keys(POLICY_FIELDS)
    changes: dict[str, object] = {}
    for name in section.data:
        value = _policy_value(section, name)
        current = getattr(spec.policy, name)
        if spec.level is Level.PARANOID and is_weaker(name, value, current):
            raise section.error(
                name,
                f"a setting at least as strong as paranoid's '{policy_value_name(current)}'",
                section.data[name],
                NO_FALL_BACK,
            )
        changes[name] = value
    return dataclasses.replace(spec.policy, **changes), set(changes)  # type: ignore[arg-type]


def _policy_value(section: Section, name: str) -> object:
    kind = POLICY_TYPES[name]
    if kind is bool:
        return section.boolean(name, False)
    if issubclass(kind, Enum):
        choices = [policy_value_name(v) for v in POLICY_ORDER[name]]
        return kind(section.choice(name, choices, choices[0]))
    raise AssertionError(f"unhandled policy type {kind}")  # pragma: no cover


def _override_tor(spec: LevelSpec, section: Section) -> tuple[TorOptions, set[str]]:
    glob = [o for o in spec.tor_options if not is_per_service(o[0])]
    serv = [o for o in spec.tor_options if is_per_service(o[0])]
    keys: set[str] = set()
    for raw_name, raw_value in section.data.items():
        name = check_tor_option(section, raw_name, spec, owned_ok=False)
        value = _tor_value(section, raw_name, raw_value)
        check_not_weaker(section, raw_name, spec, name, value)
        target = serv if is_per_service(name) else glob
        _set_option(target, name, value)
        keys.add(name)
    return tuple(glob + serv), keys


def check_tor_option(section: Section, key: str, spec: LevelSpec, *, owned_ok: bool) -> str:
    """Tor's spelling of ``key``; refuses unknown, owned and illegal options."""
    name = canonical_name(key)
    if name is None:
        close = suggest(key, TOR_OPTIONS.values())
        detail = f"did you mean '{close}'?" if close else "see man tor"
        raise section.error(key, "a tor option (tor 0.4.9)", key, detail)
    if name in ILLEGAL or (name in OWNED and not owned_ok):
        why = "it would expose the node" if name in ILLEGAL else "the node sets it itself"
        raise section.error(key, "a tor option the node does not own", key, f"{name}: {why}")
    return name


def check_not_weaker(section: Section, key: str, spec: LevelSpec, name: str, value: str) -> None:
    """At PARANOID, refuse changing a level's option or setting a known weakening value."""
    if spec.level is not Level.PARANOID:
        return
    level_value = dict(spec.tor_options).get(name)
    if weakens(name, value) or (level_value is not None and level_value != value):
        shown = level_value if level_value is not None else "unset"
        raise section.error(key, f"{name} kept at paranoid's value ({shown})", value, NO_FALL_BACK)


def _tor_value(section: Section, key: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise section.error(key, 'a string or an integer (quote it: "1")', value)
    text = str(value).strip()
    if not text or bad_value_char(text) is not None:
        raise section.error(key, "a non-empty one-line value without control characters", value)
    return text


def _set_option(options: list[tuple[str, str]], name: str, value: str) -> None:
    for i, (existing, _) in enumerate(options):
        if existing == name:
            options[i] = (name, value)
            return
    options.append((name, value))


def _check_provisioning(
    overrides: Section, policy: SecurityPolicy, options: TorOptions, policy_keys: set[str]
) -> None:
    """Per-service tor options need the onion service in the torrc (ADD_ONION cannot set them)."""
    if policy.onion_provisioning is not OnionProvisioning.EPHEMERAL:
        return
    per_service = [name for name, _ in options if is_per_service(name)]
    if not per_service:
        return
    detail = "ADD_ONION cannot apply " + ", ".join(per_service)
    if "onion_provisioning" in policy_keys:
        key = f"{overrides.key('policy')}.onion_provisioning"
        expected = "'torrc' while the tor options include per-service options"
        raise ConfigError(overrides.file, key, expected, "ephemeral", detail=detail)
    key = f"{overrides.key('tor')}.{per_service[0]}"
    expected = "no per-service option while policy.onion_provisioning is 'ephemeral'"
    raise ConfigError(overrides.file, key, expected, detail=detail)


def check_extra_torrc(section: Section, spec: LevelSpec) -> tuple[str, ...]:
    """The ``extra_torrc`` lines of the tor ``section``, each checked like an override."""
    lines = section.string_list("extra_torrc")
    for i, line in enumerate(lines):
        key = f"extra_torrc[{i}]"
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if bad_value_char(stripped) is not None:
            raise section.error(key, "one torrc line without control characters", line)
        raw_name, value = split_line(stripped)
        name = canonical_name(raw_name)
        if name is not None and name.startswith("HiddenService"):
            raise section.error(
                key,
                "a line that does not set HiddenService* options",
                line,
                "the node owns its onion service; use security.overrides.tor",
            )
        sub = Section(section.file, section.key(key), {raw_name: value})
        name = check_tor_option(sub, raw_name, spec, owned_ok=False)
        if not value.strip():
            raise sub.error(raw_name, "'Option value' with a value after the name", line)
        check_not_weaker(sub, raw_name, spec, name, value.strip())
    return lines
