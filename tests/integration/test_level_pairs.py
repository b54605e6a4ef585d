"""Every pair of security levels (3 x 3) pairs and talks.

Six nodes, two per level. Each of the nine pairings goes through a signed invite and the
first link, then a direct message goes each way. A paranoid inviter needs v3 client
authorization, whose key the invitee's tor gets over the control port (at every level)
instead of waiting for a tor restart. Each side offers its level's session format in the
handshake and the link takes the stronger one (protocol version 2): a standard node's link
to a paranoid node is padded to fixed records with encrypted headers and the post-quantum
step, and ``peers`` shows that. A paranoid node's tor reads authorized clients only at
start, so the node authorizes a pool of keys before it starts: invites (and a paranoid
invitee's offered key) take keys from it and restart nothing; the address is printed once.
"""

from __future__ import annotations

import asyncio
import contextlib
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

    await asyncio.gather(*(pair_and_talk(configs, a, b) for a, b in ACROSS))
    stronger = {"standard": "padme_cells", "high": "buckets", "paranoid": "fixed"}
    for inviter, invitee in ACROSS:
        level = max(level_of(inviter), level_of(invitee), key=LEVELS.index)
        for here, there in ((inviter, invitee), (invitee, inviter)):
            shown = await asyncio.to_thread(peer, configs[here], there)
            assert shown["padding"] == stronger[level], (here, there, shown)

    await paranoid_dashboard_through_the_relay(configs["p1"], tmp_path / "p1")

    for name in ("p1", "p2"):  # invites and invitees' offers took pre-authorized keys
        assert "restarting tor" not in "\n".join(running[name].stderr), name
    for name, node in running.items():
        assert node.proc.poll() is None, f"{name} exited"
        extra = []  # the address was printed once, at the start
        with contextlib.suppress(queue.Empty):
            while True:
                extra.append(node.lines.get_nowait())
        assert extra == [], (name, extra, node.stderr[-30:])


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
