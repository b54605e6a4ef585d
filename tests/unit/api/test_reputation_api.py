"""Reputation in the API and CLI: ``subset`` on POST /rounds, the peers' ``reputation``,
``gateway peers`` and ``gateway converge --participants K``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.api.rounds_routes import RoundsRoutes
from gateway.api.server import LocalApi
from gateway.cli import converge_cmd, main, peers_cmd
from gateway.contacts import reputation as rep
from gateway.converge.adapters.config import AIConfig
from gateway.node.memops import MemoryService
from gateway.node.rounds import RoundsService
from gateway.node.roundstore import RoundStore
from gateway.storage.db import apply_migrations, open_db
from tests.unit.api.test_rounds_routes import (
    BOB,
    CAROL,
    QUESTION,
    TOKEN,
    FakeBook,
    SentLinks,
    call,
    ids,
)
from tests.unit.node.memnet import Net, make_node

DAN = type(BOB)(b"\x0e" * 32, "dan", BOB.state)


@pytest.fixture
def links() -> SentLinks:
    return SentLinks()


@pytest.fixture
def service(tmp_path: Path, links: SentLinks) -> Iterator[RoundsService]:
    node = make_node(Net(), tmp_path, 1)
    db = open_db(tmp_path / "node.db")
    apply_migrations(db)
    memory = MemoryService(node.store, node.key, node.sync)
    yield RoundsService(node.key, links, RoundStore(db), memory, AIConfig(), None)
    db.close()


@pytest.fixture
async def client(service: RoundsService) -> AsyncIterator[TestClient[Any, Any]]:
    routes = RoundsRoutes(service, FakeBook([BOB, CAROL, DAN]))  # type: ignore[arg-type]
    api = LocalApi(object(), object(), dict, routes=[routes])  # type: ignore[arg-type]
    async with TestClient(TestServer(api.app(TOKEN))) as c:
        yield c


#: scores the fake reputation gives; dan is offline
SCORES = {BOB.identity: 0.6, CAROL.identity: 0.9, DAN.identity: 0.99}
ONLINE = {BOB.identity, CAROL.identity}


def fake_pick(candidates: list[bytes], k: int) -> list[bytes]:
    return rep.best({c: SCORES[c] for c in candidates if c in ONLINE}, k)


async def test_a_subset_asks_the_best_scored_reachable_contacts(
    client: TestClient[Any, Any], service: RoundsService
) -> None:
    service.pick = fake_pick
    status, view = await call(client, "POST", body={"question": QUESTION, "subset": 1})
    assert status == 201, view
    assert ids(view) == {CAROL.identity.hex()}  # dan scores higher but is offline
    assert view["subset"] == 1
    status, view = await call(client, "POST", body={"question": QUESTION, "subset": 5})
    assert status == 201 and ids(view) == {BOB.identity.hex(), CAROL.identity.hex()}
    body = {"question": QUESTION, "participants": ["bob", "dan"], "subset": 2}
    status, view = await call(client, "POST", body=body)  # only among the named
    assert status == 201 and ids(view) == {BOB.identity.hex()}


async def test_without_a_subset_scores_do_not_matter(
    client: TestClient[Any, Any], service: RoundsService
) -> None:
    service.pick = fake_pick
    status, view = await call(client, "POST", body={"question": QUESTION})
    assert status == 201 and len(ids(view)) == 3 and "subset" not in view


@pytest.mark.parametrize("subset", [0, -1, 1001, "2", True, 1.5])
async def test_bad_subsets_are_400(
    client: TestClient[Any, Any], service: RoundsService, subset: Any
) -> None:
    service.pick = fake_pick
    status, data = await call(client, "POST", body={"question": QUESTION, "subset": subset})
    assert status == 400 and "subset" in data["error"]["message"]
    assert service.askers == {}


async def test_a_subset_with_nobody_reachable_or_no_reputation_fails(
    client: TestClient[Any, Any], service: RoundsService
) -> None:
    status, data = await call(client, "POST", body={"question": QUESTION, "subset": 1})
    assert status == 400 and "reputation" in data["error"]["message"]
    service.pick = fake_pick
    body = {"question": QUESTION, "participants": ["dan"], "subset": 1}
    status, data = await call(client, "POST", body=body)
    assert status == 400 and "no reachable contact" in data["error"]["message"]
    assert data["error"]["code"] == "round" and service.askers == {}


# --- the node's peers ------------------------------------------------------------------------


async def test_peers_carry_the_reputation_and_match_the_openapi_schema(tmp_path: Path) -> None:
    import jsonschema

    from gateway.api.openapi import document
    from tests.unit.api.nodeapp import build

    alice, bob = build(tmp_path / "alice"), build(tmp_path / "bob", name="bob")
    try:
        async with TestClient(TestServer(alice.app)) as a, TestClient(TestServer(bob.app)) as b:
            auth_a = {"Authorization": f"Bearer {alice.token}"}
            resp = await a.post("/api/v1/invites", json={}, headers=auth_a)
            invite = (await resp.json())["invite"]
            auth_b = {"Authorization": f"Bearer {bob.token}"}
            resp = await b.post("/api/v1/contacts", json={"invite": invite}, headers=auth_b)
            assert resp.status == 201
            peers = (await (await b.get("/api/v1/peers", headers=auth_b)).json())["peers"]
    finally:
        await alice.close()
        await bob.close()
    assert len(peers) == 1
    got = peers[0]["reputation"]
    assert got["score"] == 0.5 and got["uptime"] is None and got["rtt_samples"] == 0
    doc = document()
    schema = {"$ref": "#/components/schemas/Peer", "components": doc["components"]}
    jsonschema.validate(peers[0], schema)


# --- the CLI ----------------------------------------------------------------------------------

REPUTATION = {
    "score": 0.8123,
    "uptime": 0.973,
    "observed_s": 3600.0,
    "rtt_ewma_ms": 410.0,
    "rtt_p50_ms": 400.0,
    "rtt_samples": 300,
    "sync_refusals": {"malformed": 2},
    "round_faults": {"timeout": 1},
    "pbft_faults": {},
    "clean": {"round": 3},
    "components": {"availability": 0.97, "latency": 0.83, "conduct": 0.5},
}


def peer(name: str, reputation: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "identity": "ab" * 32, "nickname": name, "onion": "x" * 56, "state": "paired",
        "online": True, "last_seen": None, "rtt_ms": 412.0, "padding": "padme_cells",
        "cover": "off", "direction": "out", "queued": 0, "payload_bytes": 0, "wire_bytes": 0,
        "dummies": 0, "reputation": reputation,
    }  # fmt: skip


def test_gateway_peers_shows_uptime_score_and_faults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    peers = [peer("bob", REPUTATION), peer("carol", None)]
    monkeypatch.setattr(peers_cmd, "call", lambda cfg, method, path: {"peers": peers})
    monkeypatch.setattr(peers_cmd, "load_config", lambda path: "CFG")
    assert main(["--config", "node.yaml", "peers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "uptime" in lines[0] and "score" in lines[0]
    bob = next(line for line in lines if line.startswith("bob"))
    assert "97%" in bob and "0.81" in bob and "[2 malformed, 1 timeout]" in bob
    carol = next(line for line in lines if line.startswith("carol"))
    assert "0." not in carol.split("ms", 1)[1]  # no score shown without a reputation
    assert main(["--config", "node.yaml", "peers", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["reputation"] == REPUTATION


def test_converge_participants_k_sends_a_subset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sent: list[Any] = []

    def fake_call(cfg: Any, method: str, path: str, body: Any = None) -> Any:
        sent.append(body)
        return {"round_id": "ab" * 32, "participants": [], "status": "running"}

    monkeypatch.setattr(converge_cmd, "call", fake_call)
    monkeypatch.setattr(converge_cmd, "load_config", lambda path: "CFG")
    argv = ["--config", "n.yaml", "converge", "q", "--participants", "2", "--no-wait"]
    assert main(argv) == 0
    assert main([*argv[:4], "--subset", "3", "--with", "bob", "--no-wait"]) == 0
    assert sent == [
        {"question": "q", "subset": 2},
        {"question": "q", "subset": 3, "participants": ["bob"]},
    ]
    capsys.readouterr()


# --- the dashboard ----------------------------------------------------------------------------


async def test_the_dashboard_shows_uptime_and_score() -> None:
    from tests.unit.api.test_dashboard import FakeNode, drive

    class Node(FakeNode):
        def peers(self) -> list[dict[str, Any]]:
            return [{**p, "reputation": REPUTATION} for p in super().peers()]

    shown = await drive(Node(events=False), "?poll=250")
    assert shown["errors"] == []
    assert "97%" in shown["peer"] and "0.81" in shown["peer"], shown["peer"]
