"""Every pair of security levels: nodes of one level pair and talk; across levels an invite
is refused at once, saying why.

Six nodes, two per level. The three same-level pairings go through a signed invite and
the first link, then a direct message goes each way; the paranoid pair needs v3 client
authorization, whose key the invitee's tor now gets over the control port (at every
level) instead of waiting for a tor restart. A link's session options (padding mode,
header encryption, the post-quantum handshake) follow each side's level and are not
negotiated, so a link between levels could never open: the six cross-level invites are
refused by ``contacts add`` with ``invite_level_mismatch`` (a contact used to sit pending
forever, with nothing said). Invites restart a paranoid node's tor (it reads authorized
clients only at start), but its address is printed once.
"""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.testnet import TestNetwork
from tests.integration.support import Node, gateway_cli, inbox_texts, make_node, peer, wait_for

pytestmark = pytest.mark.integration

LEVELS = ("standard", "high", "paranoid")
SAME_LEVEL = (("s1", "s2"), ("h1", "h2"), ("p1", "p2"))
ACROSS = (("s1", "h2"), ("s1", "p2"), ("h1", "s2"), ("h1", "p2"), ("p1", "s2"), ("p1", "h2"))


def level_of(name: str) -> str:
    return {"s": "standard", "h": "high", "p": "paranoid"}[name[0]]


def linked(config: Path, nickname: str) -> bool:
    p = peer(config, nickname)
    return bool(p["state"] == "paired" and p["online"])


def invite(config: Path, label: str) -> str:
    out = gateway_cli(config, "invite", "--json", "--no-qr", "--label", label)
    return str(json.loads(out)["invite"])


async def pair_and_talk(configs: dict[str, Path], inviter: str, invitee: str) -> None:
    what = f"{inviter} ({level_of(inviter)}) invites {invitee} ({level_of(invitee)})"
    text = invite(configs[inviter], invitee)
    gateway_cli(configs[invitee], "contacts", "add", text, "--nickname", inviter)
    a, b = configs[inviter], configs[invitee]
    await asyncio.to_thread(
        wait_for, lambda: linked(b, inviter) and linked(a, invitee), 180, what
    )
    there, back = f"{inviter} to {invitee}", f"{invitee} to {inviter}"
    gateway_cli(a, "send", invitee, there)
    gateway_cli(b, "send", inviter, back)
    await asyncio.to_thread(
        wait_for, lambda: there in inbox_texts(b) and back in inbox_texts(a), 120,
        f"messages both ways: {what}",
    )  # fmt: skip


async def test_every_level_pair(tmp_path: Path, testnet: TestNetwork, nodes: list[Node]) -> None:
    pairs = {(level_of(a), level_of(b)) for a, b in SAME_LEVEL + ACROSS}
    assert pairs == {(x, y) for x in LEVELS for y in LEVELS}
    names = sorted({n for pair in SAME_LEVEL + ACROSS for n in pair})
    configs = {n: make_node(tmp_path, testnet, level_of(n), name=n) for n in names}
    running = {n: Node(configs[n]) for n in names}
    nodes.extend(running.values())
    await asyncio.gather(*(asyncio.to_thread(node.next_address) for node in running.values()))

    await asyncio.gather(*(pair_and_talk(configs, a, b) for a, b in SAME_LEVEL))
    # the paranoid invitee's tor got the inviter's key live (no restart of its tor)
    assert "client-auth key" in "\n".join(running["p2"].stderr)

    # the inviter can name (and rename) the contact it made an invite for
    gateway_cli(configs["s1"], "contacts", "rename", "s2", "sam")
    assert (await asyncio.to_thread(peer, configs["s1"], "sam"))["online"]

    for inviter, invitee in ACROSS:
        added = subprocess.run(
            [sys.executable, "-m", "gateway", "--config", str(configs[invitee]), "contacts",
             "add", invite(configs[inviter], invitee), "--nickname", inviter],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert added.returncode == 1, added.stdout
        assert "level_mismatch" in added.stderr, added.stderr
        assert f"from a {level_of(inviter)} node and this node is {level_of(invitee)}" in (
            added.stderr
        )
        known = await asyncio.to_thread(peers_of, configs[invitee])
        assert inviter not in {p["nickname"] for p in known}

    await paranoid_dashboard_through_the_relay(configs["p1"], tmp_path / "p1")

    for name, node in running.items():
        assert node.proc.poll() is None, f"{name} exited"
        with pytest.raises(queue.Empty):  # the address was printed once, at the start
            node.lines.get_nowait()


def peers_of(config: Path) -> list[dict[str, object]]:
    from tests.integration.support import api

    return list(api(config, "GET", "/api/v1/peers")["peers"])


async def paranoid_dashboard_through_the_relay(config: Path, state: Path) -> None:
    """At PARANOID the API is a unix socket: ``gateway dashboard`` relays a loopback port to
    it, and the page, the API (same token) and the event stream all work through it."""
    import aiohttp

    relay = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config), "dashboard"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert relay.stdout is not None
        url = (await asyncio.to_thread(relay.stdout.readline)).split()[0]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/dashboard")
        base = url.removesuffix("/dashboard")
        token = (state / "api.token").read_text().strip()
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as page:
                assert page.status == 200 and "<html" in (await page.text()).lower()
            async with http.get(base + "/api/v1/status") as refused:
                assert refused.status == 401  # the relay adds nothing: the token is needed
            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(base + "/api/v1/status", headers=headers) as status:
                assert status.status == 200 and (await status.json())["level"] == "paranoid"
            async with http.ws_connect(
                base + "/api/v1/events", protocols=("gateway.events.v1", f"bearer.{token}")
            ) as ws:
                first = await ws.receive_json(timeout=30)
                assert first
    finally:
        relay.terminate()
        assert relay.wait(10) == 0
