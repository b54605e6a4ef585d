"""Structured logging (JSON lines) with the security level's redaction of identifiers.

Every record leaves as one JSON object: ``ts``, ``level``, ``logger``, ``msg``,
the record's extra fields, and ``exc`` when it carries a traceback. Before it
is written, :class:`RedactionFilter` replaces what could identify the node, its
contacts or their traffic with ``[scrubbed]``, as tor's ``SafeLogging`` does:
onion addresses, invites, keys and ids (hex, base32, base64), and IP addresses
other than loopback. It scrubs the formatted message, the extra fields and the
traceback. With ``log_redaction: always`` (levels high, paranoid) it scrubs
every record; with ``debug_only`` (standard) identifiers may appear in DEBUG
records only.

Message contents are never formatted into a log line by hand: wrap them with
:func:`redact` (a :class:`Secret`), which prints as ``[scrubbed]`` except in
the DEBUG records that ``debug_only`` allows.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import itertools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

from gateway.config.schema import LogRedaction
from gateway.errors import ConfigError

SCRUBBED = "[scrubbed]"
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
#: the loggers whose records the node's handler writes at the configured level
NODE_LOGGER = "gateway"
#: the level of every other library's records (stem, aiohttp, asyncio)
OTHERS_LEVEL = logging.WARNING

# --- scrubbing ------------------------------------------------------------------------

_ALNUM = "A-Za-z0-9"
_INVITE = re.compile(r"(?:gateway:invite/)?gw\d+:[a-z2-7]+", re.IGNORECASE)
# lowercase, as tor writes them: a mixed-case run of 56 inside a base64 key is not an onion
# (cutting it out would leave the key's ends behind); an upper-case one is base32 below
_ONION = re.compile(rf"(?<![{_ALNUM}])[a-z2-7]{{56}}(?:\.onion)?(?![{_ALNUM}])")
#: a run that could be an IPv6 address (at most 45 characters: bounded work on any input)
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f:.]{2,45}(?![\w:])")
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)")
_LONG_HEX = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{16,}(?![0-9A-Fa-f])")
_BASE32 = re.compile(rf"(?<![{_ALNUM}])(?:[a-z2-7]{{24,}}|[A-Z2-7]{{24,}})=*(?![{_ALNUM}])")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}={0,2}")
_SHORT_HEX = re.compile(rf"(?<![{_ALNUM}])[0-9A-Fa-f]{{8,15}}(?![{_ALNUM}])")
#: 0.0.0.0/8 is "this network": never a peer, and it keeps version numbers like 0.4.9.11
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def _is_public_ip(text: str) -> bool:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return False
    if addr.is_loopback or addr.is_unspecified:
        return False
    return not (isinstance(addr, ipaddress.IPv4Address) and addr in _THIS_NETWORK)


def _ip(match: re.Match[str]) -> str:
    text = match.group(0)
    core = text.rstrip(".")
    return SCRUBBED + text[len(core) :] if _is_public_ip(core) else text


def _if(predicate: Callable[[str], bool]) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return SCRUBBED if predicate(match.group(0)) else match.group(0)

    return replace


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def _switches(text: str) -> int:
    """How often the kind of character (upper, lower, digit) changes, others skipped."""
    kinds = [c.isupper() - c.islower() for c in text if c.isalnum()]
    return sum(1 for a, b in itertools.pairwise(kinds) if a != b)


def _base64_key(text: str) -> bool:
    """Random base64 mixes cases and digits throughout; words, paths and CamelCase do not."""
    mixed = _has_digit(text) and any(c.isupper() for c in text) and any(c.islower() for c in text)
    return mixed or _switches(text) * 4 >= len(text)


def _hex_id(text: str) -> bool:
    return _has_digit(text) and any(c.isalpha() for c in text)


def _hex_key(text: str) -> bool:
    """Keys and ids in hex (a long run of decimal digits is a number, not a key)."""
    return len(text) >= 32 or any(c.isalpha() for c in text)


_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (_INVITE, SCRUBBED),
    (_ONION, SCRUBBED),
    (_IPV6, _ip),
    (_IPV4, _ip),
    (_BASE32, SCRUBBED),
    (_BASE64, _if(_base64_key)),
    (_LONG_HEX, _if(_hex_key)),
    (_SHORT_HEX, _if(_hex_id)),
)


def scrubbing(redaction: LogRedaction, levelno: int) -> bool:
    """Whether a record at ``levelno`` is scrubbed under ``redaction``."""
    return redaction is LogRedaction.ALWAYS or levelno > logging.DEBUG


def scrub(
    text: str, redaction: LogRedaction = LogRedaction.ALWAYS, levelno: int = logging.INFO
) -> str:
    """``text`` with identifiers replaced by ``[scrubbed]`` (unchanged if the level allows)."""
    if not scrubbing(redaction, levelno):
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


# --- message contents -----------------------------------------------------------------


class Secret:
    """A value that must not reach a log line: prints as ``[scrubbed]``.

    :class:`RedactionFilter` shows the value only in the records the policy
    allows (DEBUG records under ``debug_only``).
    """

    __slots__ = ("_value",)

    def __init__(self, value: object) -> None:
        self._value = value

    def reveal(self) -> object:
        """The wrapped value (never pass it to a log call)."""
        return self._value

    def __str__(self) -> str:
        return SCRUBBED

    def __repr__(self) -> str:
        return SCRUBBED

    def __format__(self, spec: str) -> str:
        return SCRUBBED


def redact(value: object) -> Secret:
    """Wrap a message body (or anything private) for a log call."""
    return value if isinstance(value, Secret) else Secret(value)


def _text_forms(needle: str | bytes) -> list[str]:
    if isinstance(needle, str):
        return [needle, needle.lower()]
    forms = [needle.hex(), needle.hex().upper()]
    for encode in (base64.b64encode, base64.urlsafe_b64encode, base64.b32encode):
        text = encode(needle).decode().rstrip("=")
        forms += [text, text.lower()]
    with contextlib.suppress(UnicodeDecodeError):
        forms.append(needle.decode())
    return forms


def find_leaks(text: str, needles: Iterable[str | bytes]) -> list[int]:
    """Which ``needles`` appear in ``text`` (as given, or as hex, base64 or base32): indexes.

    Needles shorter than 4 characters/bytes are ignored (they would match anything).
    """
    leaked = []
    for index, needle in enumerate(needles):
        if len(needle) < 4:
            continue
        if any(form and form in text for form in _text_forms(needle)):
            leaked.append(index)
    return leaked


# --- records --------------------------------------------------------------------------

#: attributes every LogRecord has; anything else on a record is an extra field
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields passed with ``extra=`` (or set by filters) on ``record``."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


def _clean(value: Any, active: bool) -> Any:
    """A JSON-ready copy of an extra field's value, scrubbed when ``active``."""
    if isinstance(value, Secret):
        return SCRUBBED if active else _clean(value.reveal(), False)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return SCRUBBED if active else bytes(value).hex()
    if isinstance(value, Mapping):
        return {scrub(str(k)) if active else str(k): _clean(v, active) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, active) for v in value]
    text = str(value)
    return scrub(text) if active else text


def _resolve_args(args: Any, active: bool) -> Any:
    def one(value: object) -> object:
        if isinstance(value, Secret):
            return SCRUBBED if active else value.reveal()
        return value

    if isinstance(args, Mapping):
        return {k: one(v) for k, v in args.items()}
    if isinstance(args, tuple):
        return tuple(one(v) for v in args)
    return args


class RedactionFilter(logging.Filter):
    """Scrubs a record's message, extra fields and traceback per the redaction policy.

    The record is changed in place (``msg`` becomes the final text, ``args``
    None), so every handler after this one sees the scrubbed record too.
    """

    def __init__(self, redaction: LogRedaction) -> None:
        super().__init__()
        self.redaction = redaction

    def filter(self, record: logging.LogRecord) -> bool:
        active = scrubbing(self.redaction, record.levelno)
        if isinstance(record.msg, Secret):
            record.msg = SCRUBBED if active else str(record.msg.reveal())
        record.args = _resolve_args(record.args, active) or None
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            message = f"{record.msg} (log arguments did not fit the message)"
        record.msg, record.args = (scrub(message) if active else message), None
        for key, value in extra_fields(record).items():
            setattr(record, key, _clean(value, active))
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if active and record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if active and record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_CORE_KEYS = ("ts", "level", "logger", "msg", "exc", "stack")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        out: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            out[f"extra_{key}" if key in _CORE_KEYS else key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


class LibraryLevelFilter(logging.Filter):
    """Passes other libraries' records only at :data:`OTHERS_LEVEL` and above.

    The root logger's level does not stop them: a library that sets its own logger's
    level (stem sets ``stem`` to TRACE) propagates every record to the root's handlers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        ours = name == NODE_LOGGER or name.startswith(NODE_LOGGER + ".")
        return ours or record.levelno >= OTHERS_LEVEL


class _NodeHandler(logging.StreamHandler[IO[str]]):
    """The handler :func:`setup_logging` installs; remembers the levels it replaced."""

    def __init__(self, stream: IO[str], previous: tuple[int, int]) -> None:
        super().__init__(stream)
        self.previous = previous


def parse_level(level: str) -> int:
    """The logging level named in the config (``logging.level``); ConfigError if unknown."""
    try:
        return LEVELS[level.lower()]
    except KeyError:
        raise ConfigError(None, "logging.level", "one of " + ", ".join(LEVELS), got=level) from None


def setup_logging(
    level: str,
    redaction: LogRedaction,
    stream: IO[str] | None = None,
    *,
    structured: bool = True,
) -> logging.Handler:
    """Write every record as a scrubbed JSON line (or plain text) to ``stream`` (stderr).

    gateway's loggers log at ``level``; other libraries at WARNING and above.
    Calling it again replaces the handler it installed before. Returns the
    handler (pass it to :func:`teardown_logging` to remove it).
    """
    node_level = parse_level(level)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _NodeHandler)]:
        teardown_logging(old)
    node = logging.getLogger(NODE_LOGGER)
    handler = _NodeHandler(stream if stream is not None else sys.stderr, (root.level, node.level))
    handler.addFilter(LibraryLevelFilter())
    handler.addFilter(RedactionFilter(redaction))
    if structured:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("gateway: %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(OTHERS_LEVEL)
    node.setLevel(node_level)
    return handler


def teardown_logging(handler: logging.Handler) -> None:
    """Remove a handler :func:`setup_logging` installed (and restore the levels it set)."""
    root = logging.getLogger()
    if handler not in root.handlers:
        return
    root.removeHandler(handler)
    if isinstance(handler, _NodeHandler):
        root.setLevel(handler.previous[0])
        logging.getLogger(NODE_LOGGER).setLevel(handler.previous[1])
    handler.close()
