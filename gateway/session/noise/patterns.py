"""Handshake patterns (Noise spec rev 34, sections 7 and 9), parsed from the spec's notation.

The table :data:`PATTERN_NOTATION` holds every one-way, fundamental interactive
and deferred pattern exactly as the spec writes it; :func:`parse_pattern`
turns a pattern name with modifiers (``XKpsk3``, ``NNpsk0+psk2``) into a
:class:`HandshakePattern`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from gateway.errors import HandshakeError


class Token(enum.Enum):
    """A handshake token."""

    E = "e"
    S = "s"
    EE = "ee"
    ES = "es"
    SE = "se"
    SS = "ss"
    PSK = "psk"


#: message tokens; ``True`` = sent by the initiator ("->")
MessagePattern = tuple[bool, tuple[Token, ...]]


@dataclass(frozen=True)
class HandshakePattern:
    """A parsed handshake pattern: pre-messages and message patterns."""

    name: str
    #: tokens of the initiator's and the responder's pre-message (only "e"/"s")
    initiator_pre: tuple[Token, ...]
    responder_pre: tuple[Token, ...]
    messages: tuple[MessagePattern, ...]

    @property
    def one_way(self) -> bool:
        """Whether only the initiator ever sends (patterns N, K, X)."""
        return all(from_initiator for from_initiator, _ in self.messages)

    @property
    def has_psk(self) -> bool:
        """Whether any message holds a "psk" token."""
        return any(Token.PSK in tokens for _, tokens in self.messages)


_ONE_WAY = """
N:
  <- s
  ...
  -> e, es
K:
  -> s
  <- s
  ...
  -> e, es, ss
X:
  <- s
  ...
  -> e, es, s, ss
"""

_INTERACTIVE = """
NN:
  -> e
  <- e, ee
NK:
  <- s
  ...
  -> e, es
  <- e, ee
NX:
  -> e
  <- e, ee, s, es
KN:
  -> s
  ...
  -> e
  <- e, ee, se
KK:
  -> s
  <- s
  ...
  -> e, es, ss
  <- e, ee, se
KX:
  -> s
  ...
  -> e
  <- e, ee, se, s, es
XN:
  -> e
  <- e, ee
  -> s, se
XK:
  <- s
  ...
  -> e, es
  <- e, ee
  -> s, se
XX:
  -> e
  <- e, ee, s, es
  -> s, se
IN:
  -> e, s
  <- e, ee, se
IK:
  <- s
  ...
  -> e, es, s, ss
  <- e, ee, se
IX:
  -> e, s
  <- e, ee, se, s, es
"""

_DEFERRED = """
NK1:
  <- s
  ...
  -> e
  <- e, ee, es
NX1:
  -> e
  <- e, ee, s
  -> es
X1N:
  -> e
  <- e, ee
  -> s
  <- se
X1K:
  <- s
  ...
  -> e, es
  <- e, ee
  -> s
  <- se
XK1:
  <- s
  ...
  -> e
  <- e, ee, es
  -> s, se
X1K1:
  <- s
  ...
  -> e
  <- e, ee, es
  -> s
  <- se
X1X:
  -> e
  <- e, ee, s, es
  -> s
  <- se
XX1:
  -> e
  <- e, ee, s
  -> es, s, se
X1X1:
  -> e
  <- e, ee, s
  -> es, s
  <- se
K1N:
  -> s
  ...
  -> e
  <- e, ee
  -> se
K1K:
  -> s
  <- s
  ...
  -> e, es
  <- e, ee
  -> se
KK1:
  -> s
  <- s
  ...
  -> e
  <- e, ee, se, es
K1K1:
  -> s
  <- s
  ...
  -> e
  <- e, ee, es
  -> se
K1X:
  -> s
  ...
  -> e
  <- e, ee, s, es
  -> se
KX1:
  -> s
  ...
  -> e
  <- e, ee, se, s
  -> es
K1X1:
  -> s
  ...
  -> e
  <- e, ee, s
  -> se, es
I1N:
  -> e, s
  <- e, ee
  -> se
I1K:
  <- s
  ...
  -> e, es, s
  <- e, ee
  -> se
IK1:
  <- s
  ...
  -> e, s
  <- e, ee, se, es
I1K1:
  <- s
  ...
  -> e, s
  <- e, ee, es
  -> se
I1X:
  -> e, s
  <- e, ee, s, es
  -> se
IX1:
  -> e, s
  <- e, ee, se, s
  -> es
I1X1:
  -> e, s
  <- e, ee, s
  -> se, es
"""


def _split_blocks(text: str) -> dict[str, str]:
    blocks: dict[str, str] = {}
    name = ""
    for line in text.strip().splitlines():
        if line.endswith(":") and not line.startswith(" "):
            name = line[:-1]
            blocks[name] = ""
        else:
            blocks[name] += line.strip() + "\n"
    return blocks


#: every base pattern of the spec, in the spec's notation
PATTERN_NOTATION: dict[str, str] = {
    **_split_blocks(_ONE_WAY),
    **_split_blocks(_INTERACTIVE),
    **_split_blocks(_DEFERRED),
}


def _parse_line(line: str) -> MessagePattern:
    arrow, _, rest = line.partition(" ")
    if arrow not in ("->", "<-"):
        raise HandshakeError(f"bad pattern line {line!r}")
    tokens = tuple(Token(t.strip()) for t in rest.split(","))
    return arrow == "->", tokens


def parse_notation(name: str, notation: str) -> HandshakePattern:
    """A pattern from the spec notation: optional pre-messages, "...", message lines."""
    lines = [line.strip() for line in notation.strip().splitlines() if line.strip()]
    pre_lines: list[str] = []
    if "..." in lines:
        cut = lines.index("...")
        pre_lines, lines = lines[:cut], lines[cut + 1 :]
    initiator_pre: tuple[Token, ...] = ()
    responder_pre: tuple[Token, ...] = ()
    for line in pre_lines:
        from_initiator, tokens = _parse_line(line)
        if from_initiator:
            initiator_pre = tokens
        else:
            responder_pre = tokens
    messages = tuple(_parse_line(line) for line in lines)
    return HandshakePattern(name, initiator_pre, responder_pre, messages)


def _apply_psk(messages: list[MessagePattern], position: int) -> None:
    if position == 0:
        from_initiator, tokens = messages[0]
        messages[0] = (from_initiator, (Token.PSK, *tokens))
        return
    if position > len(messages):
        raise HandshakeError(f"psk{position} is beyond the pattern's {len(messages)} messages")
    from_initiator, tokens = messages[position - 1]
    messages[position - 1] = (from_initiator, (*tokens, Token.PSK))


_NAME = re.compile(r"^([NKXI]1?[NKX]?1?)((?:psk\d+)(?:\+psk\d+)*)?$")


def parse_pattern(name: str) -> HandshakePattern:
    """The pattern for a name such as ``XK``, ``XKpsk3`` or ``NNpsk0+psk2``."""
    match = _NAME.match(name)
    if match is None or match.group(1) not in PATTERN_NOTATION:
        raise HandshakeError(f"unknown handshake pattern {name!r}")
    base = parse_notation(match.group(1), PATTERN_NOTATION[match.group(1)])
    messages = list(base.messages)
    for modifier in (match.group(2) or "").split("+"):
        if modifier:
            _apply_psk(messages, int(modifier[3:]))
    return HandshakePattern(name, base.initiator_pre, base.responder_pre, tuple(messages))
