"""``POST /api/v1/invites/qr``: a new invite and its QR code as SVG (for the dashboard)."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.api.contacts_routes import invite_svg
from gateway.contacts.qr import qr_matrix, qr_payload
from tests.unit.api.nodeapp import build

SVG = "{http://www.w3.org/2000/svg}"
BORDER = 4


class Api:
    def __init__(self, client: TestClient[Any, Any], token: str) -> None:
        self.client, self.auth = client, {"Authorization": f"Bearer {token}"}

    async def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        resp = await self.client.request(method, path, json=body, headers=self.auth)
        return resp.status, await resp.json()


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[Api, Api]]:
    alice, bob = build(tmp_path / "alice"), build(tmp_path / "bob")
    async with TestClient(TestServer(alice.app)) as ca, TestClient(TestServer(bob.app)) as cb:
        yield Api(ca, alice.token), Api(cb, bob.token)
    await alice.close()
    await bob.close()


def drawn_modules(svg: str) -> list[list[bool]]:
    """The dark modules segno's SVG draws: one path of horizontal runs ("M x y.5 h n m dx dy")."""
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    width = int(root.attrib["width"]) // BORDER  # scale 4: 4 px per module
    path = next(p for p in root.iter(SVG + "path") if p.get("class") == "qrline")
    rows = [[False] * width for _ in range(width)]
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.attrib["d"]):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            for i in range(int(a)):
                rows[int(y)][int(x) + i] = True
            x += int(a)
    return rows


def test_the_svg_draws_the_code_the_terminal_draws() -> None:
    link = "gateway:invite/gw1:aeib3bsxl6vbhp4ltw3kljuc6eo3fgb7ceufm4svxu"
    assert drawn_modules(invite_svg(link)) == qr_matrix(qr_payload(link), border=BORDER)


async def test_an_invite_with_its_qr_code_pairs_like_any_invite(nodes: tuple[Api, Api]) -> None:
    alice, bob = nodes
    status, made = await alice("POST", "/api/v1/invites/qr", {"label": "bob", "expires_in": 600})
    assert status == 201, made
    _, plain = await alice("POST", "/api/v1/invites", {})
    assert set(made) == set(plain) | {"qr_svg"}  # the invite's fields, and the code
    assert made["label"] == "bob" and made["invite"].startswith("gw1:")
    assert made["link"] == "gateway:invite/" + made["invite"]
    assert drawn_modules(made["qr_svg"]) == qr_matrix(qr_payload(made["link"]), border=BORDER)
    assert "<script" not in made["qr_svg"] and "href" not in made["qr_svg"]
    _, pending = await alice("GET", "/api/v1/invites")
    assert sorted(str(i["label"]) for i in pending["invites"]) == ["None", "bob"]
    assert made["invite"] not in str(pending)
    # the code's text (the link in upper case) is an invite bob's node accepts
    status, added = await bob("POST", "/api/v1/contacts", {"invite": qr_payload(made["link"])})
    assert status == 201 and added["nickname"] == "alice" and added["onion"] == made["onion"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"expires_in": 0}, "bad_request"),
        ({"expires_in": 31 * 86400}, "bad_request"),
        ({"colour": "red"}, "bad_request"),
        ([1], "bad_request"),
        ({"label": "x" * 500}, "invite_malformed"),
    ],
)
async def test_bad_requests_make_no_invite(nodes: tuple[Api, Api], body: Any, code: str) -> None:
    alice, _ = nodes
    status, error = await alice("POST", "/api/v1/invites/qr", body)
    assert status == 400 and error["error"]["code"] == code
    assert await alice("GET", "/api/v1/invites") == (200, {"invites": []})


async def test_the_token_is_needed(nodes: tuple[Api, Api]) -> None:
    alice, _ = nodes
    resp = await alice.client.post("/api/v1/invites/qr", json={})
    assert resp.status == 401
    assert await alice("GET", "/api/v1/invites") == (200, {"invites": []})


def test_the_routes_import_no_segno() -> None:
    code = "import sys, gateway.api.contacts_routes; print('segno' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
