"""QR codes of invites for a terminal, drawn with Unicode half blocks.

The code holds the invite's link form in upper case, so that it fits QR's
compact alphanumeric mode (invites are read case-insensitively).
"""

from __future__ import annotations

import segno

from gateway.errors import InviteError

#: light modules are drawn (terminals are usually dark); two rows per text line
_GLYPHS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}
QUIET_ZONE = 2


def qr_payload(link: str) -> str:
    """The text the QR code holds: ``link`` in upper case (QR alphanumeric mode)."""
    return link.upper()


def qr_matrix(text: str, *, border: int = QUIET_ZONE) -> list[list[bool]]:
    """Rows of modules (True = dark) of the QR code of ``text``, quiet zone included."""
    try:
        code = segno.make(text, error="m", micro=False)
    except (ValueError, segno.DataOverflowError) as exc:
        raise InviteError("malformed", f"cannot make a QR code: {exc}") from None
    return [[bool(m) for m in row] for row in code.matrix_iter(border=border)]


def render_qr(text: str, *, invert: bool = False, border: int = QUIET_ZONE) -> str:
    """The QR code of ``text`` as lines of half blocks.

    By default light modules are drawn as blocks (right on a dark terminal);
    ``invert`` draws dark modules instead (for light terminals).
    """
    rows = qr_matrix(text, border=border)
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))  # one more light row of quiet zone
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
        drawn = [_GLYPHS[(t == invert, b == invert)] for t, b in zip(top, bottom, strict=True)]
        lines.append("".join(drawn))
    return "\n".join(lines) + "\n"
