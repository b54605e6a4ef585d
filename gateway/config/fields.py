"""Typed reads from one mapping of a parsed YAML file, with precise errors.

A :class:`Section` knows its file and dotted key path, so every
:class:`~gateway.errors.ConfigError` it raises names both, what form was
expected, and what was found. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar

from gateway.errors import ConfigError

E = TypeVar("E", bound=Enum)

_YAML_BOOL_HINT = "YAML reads unquoted yes/no/on/off/true/false as booleans"


def suggest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name`` (case-insensitive), if any is close enough."""
    import difflib  # only when a config has a mistake

    by_lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def type_name(value: object) -> str:
    """A short YAML-ish name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


@dataclass(frozen=True)
class Section:
    """One mapping of the config file, at a dotted key path."""

    file: Path
    where: str  # dotted key path of this mapping ("" at the top level)
    data: Mapping[str, object]

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def error(
        self, name: str, expected: str, got: object = None, detail: str | None = None
    ) -> ConfigError:
        if detail is None and isinstance(got, bool):
            detail = _YAML_BOOL_HINT
        return ConfigError(self.file, self.key(name), expected, got, detail=detail)

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def check_keys(self, allowed: Iterable[str]) -> None:
        """Refuse keys that are not in ``allowed`` (suggesting the closest one)."""
        allowed = tuple(allowed)
        for name in self.data:
            if name in allowed:
                continue
            close = suggest(name, allowed)
            detail = f"did you mean '{close}'?" if close else None
            choices = ", ".join(allowed)
            raise ConfigError(
                self.file, self.key(name), f"one of the known keys: {choices}", detail=detail
            )

    def sub(self, name: str) -> Section:
        """The mapping under ``name`` (empty when missing or null)."""
        value = self.data.get(name)
        if value is None:
            return Section(self.file, self.key(name), {})
        if not isinstance(value, Mapping):
            raise self.error(name, "a mapping", type_name(value))
        return Section(self.file, self.key(name), value)

    def string(self, name: str, default: str) -> str:
        value = self.data.get(name, default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, "a non-empty string", value)
        return value

    def opt_string(self, name: str) -> str | None:
        return self.string(name, "") if self.has(name) else None

    def choice(self, name: str, choices: Iterable[str], default: str) -> str:
        choices = tuple(choices)
        value = self.data.get(name, default)
        if not isinstance(value, str) or value not in choices:
            raise self.error(name, "one of " + " | ".join(choices), value)
        return value

    def enum(self, name: str, cls: type[E], default: E) -> E:
        values = [str(m.value) for m in cls]
        return cls(self.choice(name, values, str(default.value)))

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, "true or false", value)
        return value

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"an integer from {lo} to {hi}", value)
        if not lo <= value <= hi:
            raise self.error(name, f"an integer from {lo} to {hi}", value, "out of range")
        return value

    def opt_integer(self, name: str, lo: int, hi: int) -> int | None:
        return self.integer(name, lo, lo, hi) if self.has(name) else None

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        value = self.data.get(name, default)
        expected = f"a number of seconds, more than {lo:g} and at most {hi:g}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, expected, value)
        if not lo < value <= hi:
            raise self.error(name, expected, value, "out of range")
        return float(value)

    def path(self, name: str, default: str) -> Path:
        """A path; relative ones are resolved against the config file's folder."""
        raw = self.string(name, default)
        if "\x00" in raw:
            raise self.error(name, "a path without NUL bytes", raw)
        return (self.file.parent / Path(raw).expanduser()).resolve()

    def opt_path(self, name: str) -> Path | None:
        return self.path(name, "") if self.has(name) else None

    def string_list(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error(name, "a list of strings", type_name(value))
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{name}[{i}]", "a string", item)
        return tuple(value)
