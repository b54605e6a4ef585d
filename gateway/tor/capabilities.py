"""Can an attached tor apply a security level's options? (sans-I/O)

The inputs come from the running tor: ``GETINFO config/names`` (the options it
knows), ``GETCONF`` of the level's global options (their current values) and
``GETINFO version``. Global options are never changed on a tor we did not
start; they must already have the level's value. Per-service options
(``HiddenService*``) are applied with our onion service, which needs
``onion_provisioning: torrc``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.config import tor_options
from gateway.config.schema import Level
from gateway.errors import TorCapabilityError

#: the oldest tor that has every option the levels use (proof-of-work defenses)
MIN_TOR_VERSION: tuple[int, ...] = (0, 4, 8)

_VERSION = re.compile(r"(\d+(?:\.\d+)*)")


@dataclass(frozen=True)
class CapabilityReport:
    """What an attached tor lacks for a level; empty ``missing`` means all is well."""

    tor_version: str
    missing: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing


def is_per_service(option: str) -> bool:
    """Whether ``option`` belongs to a ``HiddenServiceDir`` block."""
    return tor_options.is_per_service(tor_options.canonical_name(option) or option)


def parse_config_names(text: str) -> frozenset[str]:
    """Lower-cased option names from ``GETINFO config/names`` (``Name Type`` lines)."""
    return frozenset(line.split()[0].lower() for line in text.splitlines() if line.strip())


def parse_version(text: str) -> tuple[int, ...]:
    """``(0, 4, 9, 11)`` from ``0.4.9.11 (git-...)``; ``()`` if there is no number."""
    match = _VERSION.search(text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def _same(current: Iterable[str], wanted: str) -> bool:
    norm = wanted.strip().lower()
    return any(value.strip().lower() == norm for value in current)


def check_capabilities(
    options: Sequence[tuple[str, str]],
    *,
    known: frozenset[str],
    current: Mapping[str, Sequence[str]],
    version: str,
    per_service_supported: bool,
) -> CapabilityReport:
    """Compare a level's tor options with what the attached tor knows and has set.

    ``current`` maps a global option name (as in ``options``) to its values;
    ``per_service_supported`` says whether per-service options can be applied
    (torrc provisioning) rather than being lost (``ADD_ONION``).
    """
    missing: list[str] = []
    have = parse_version(version)
    if have < MIN_TOR_VERSION:
        wanted = ".".join(map(str, MIN_TOR_VERSION))
        missing.append(f"tor >= {wanted} (attached tor is {version or 'unknown'})")
    for name, value in options:
        if name.lower() not in known:
            missing.append(f"{name} (unknown to this tor)")
        elif is_per_service(name):
            if not per_service_supported:
                missing.append(f"{name} (needs policy.onion_provisioning: torrc)")
        elif not _same(current.get(name, ()), value):
            shown = ",".join(current.get(name, ())) or "unset"
            missing.append(f"{name} {value} (attached tor has {shown})")
    return CapabilityReport(tor_version=version, missing=tuple(dict.fromkeys(missing)))


def enforce(report: CapabilityReport, level: Level, log: logging.Logger) -> None:
    """Refuse at PARANOID when something is missing; warn about each item otherwise."""
    if report.ok:
        return
    if level is Level.PARANOID:
        raise TorCapabilityError(
            "the attached tor cannot apply the paranoid level: " + "; ".join(report.missing),
            missing=report.missing,
        )
    for item in report.missing:
        log.warning("attached tor lacks an option of the %s level: %s", level.value, item)
