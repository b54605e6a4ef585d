"""Terminal QR codes: faithful half-block rendering of a compact (alphanumeric) code."""

from __future__ import annotations

import segno

from gateway.config.schema import Level
from gateway.contacts.qr import QUIET_ZONE, qr_matrix, qr_payload, render_qr
from tests.unit.contacts.helpers import sample_invite

_TOP = {" ": False, "▀": True, "▄": False, "█": True}
_BOTTOM = {" ": False, "▀": False, "▄": True, "█": True}


def _unrender(text: str) -> list[list[bool]]:
    """Rows of 'drawn' flags recovered from half-block lines."""
    rows = []
    for line in text.splitlines():
        rows.append([_TOP[c] for c in line])
        rows.append([_BOTTOM[c] for c in line])
    return rows


def test_payload_is_the_upper_case_link_in_alphanumeric_mode() -> None:
    _, invite = sample_invite(level=Level.PARANOID, nickname="a" * 32)
    payload = qr_payload(invite.link)
    assert payload == invite.link.upper()
    code = segno.make(payload, error="m", micro=False)
    assert code.mode == "alphanumeric"
    size = code.symbol_size(border=QUIET_ZONE)[0]
    assert size <= 80  # the largest invite still fits an 80-column terminal


def test_rendering_draws_light_modules_and_round_trips() -> None:
    _, invite = sample_invite()
    payload = qr_payload(invite.link)
    matrix = qr_matrix(payload)
    size = len(matrix)
    assert all(len(row) == size for row in matrix)
    assert not any(matrix[0]) and not any(row[0] for row in matrix)  # quiet zone is light
    drawn = _unrender(render_qr(payload))
    assert len(drawn) == size + size % 2
    assert all(len(row) == size for row in drawn)
    assert [[not m for m in row] for row in matrix] == drawn[:size]
    if size % 2:
        assert all(drawn[-1])  # the padding row is light, so drawn


def test_inverted_rendering_draws_dark_modules() -> None:
    matrix = qr_matrix("GATEWAY:INVITE/GW1:ABC")
    drawn = _unrender(render_qr("GATEWAY:INVITE/GW1:ABC", invert=True))
    assert drawn[: len(matrix)] == matrix
    version = segno.make("GATEWAY:INVITE/GW1:ABC", error="m", micro=False).version
    assert len(matrix) == 17 + 4 * int(version) + 2 * QUIET_ZONE
