"""The local API's convergence routes, behind LocalApi's token check, over a real RoundsService."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.api.rounds_routes import PREFIX, RoundsRoutes
from gateway.api.server import LocalApi
from gateway.contacts.book import ContactState
from gateway.converge.adapters.config import AIConfig
from gateway.converge.envelope import TO_PARTICIPANT, unwrap
from gateway.errors import ContactError
from gateway.node.memops import MemoryService
from gateway.node.rounds import RoundsService
from gateway.node.roundstore import RoundStore
from gateway.storage.db import apply_migrations, open_db
from tests.unit.node.memnet import Net, make_node

TOKEN = "secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUESTION = "Compute 6 * 7. Reply with the integer."


@dataclass(frozen=True)
class FakeContact:
    identity: bytes
    nickname: str
    state: ContactState


class FakeBook:
    """The two calls the routes make of the contact book."""

    def __init__(self, contacts: list[FakeContact]) -> None:
        self.contacts = contacts

    def list(self) -> tuple[FakeContact, ...]:
        return tuple(self.contacts)

    def find(self, name: str) -> FakeContact:
        for c in self.contacts:
            if c.nickname == name:
                return c
        raise ContactError(f"no contact named or with id {name!r}")


@dataclass
class SentLinks:
    sent: list[tuple[bytes, str, bytes]] = field(default_factory=list)

    def send(self, contact: bytes, channel: str, body: bytes) -> bytes:
        self.sent.append((contact, channel, body))
        return os.urandom(16)


BOB = FakeContact(b"\x0b" * 32, "bob", ContactState.PAIRED)
CAROL = FakeContact(b"\x0c" * 32, "carol", ContactState.PAIRED)
DAVE = FakeContact(b"\x0d" * 32, "dave", ContactState.PENDING)


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
    routes = RoundsRoutes(service, FakeBook([BOB, CAROL, DAVE]))  # type: ignore[arg-type]
    api = LocalApi(object(), object(), dict, routes=[routes])  # type: ignore[arg-type]
    async with TestClient(TestServer(api.app(TOKEN))) as c:
        yield c


async def call(
    client: TestClient[Any, Any], method: str, path: str = "", body: Any = None, **kw: Any
) -> tuple[int, Any]:
    resp = await client.request(method, PREFIX + path, json=body, headers=AUTH, **kw)
    return resp.status, await resp.json()


def ids(view: dict[str, Any]) -> set[str]:
    return {p["id"] for p in view["participants"]}


# --- POST -----------------------------------------------------------------------------------


async def test_start_asks_every_paired_contact(
    client: TestClient[Any, Any], links: SentLinks, service: RoundsService
) -> None:
    status, view = await call(client, "POST", body={"question": QUESTION})
    assert status == 201, view
    assert view["role"] == "asker" and view["status"] == "running" and view["stage"] == "commit"
    assert view["question"] == QUESTION and view["asker"] == service.me.hex()
    assert ids(view) == {BOB.identity.hex(), CAROL.identity.hex()}  # not the pending one
    rid = bytes.fromhex(view["round_id"])
    assert rid in service.askers
    assert {(to, unwrap(body)[:2]) for to, _, body in links.sent} == {
        (BOB.identity, (TO_PARTICIPANT, rid)),
        (CAROL.identity, (TO_PARTICIPANT, rid)),
    }


async def test_start_with_named_participants_and_times(
    client: TestClient[Any, Any], service: RoundsService
) -> None:
    body = {"question": QUESTION, "participants": ["carol"], "times": {"answer": 5, "review": 2.5}}
    status, view = await call(client, "POST", body=body)
    assert status == 201, view
    assert ids(view) == {CAROL.identity.hex()}
    rnd = service.askers[bytes.fromhex(view["round_id"])].round
    assert rnd.commit_by_ms - rnd.created_ms == 5000
    assert rnd.review_by_ms - rnd.reveal_by_ms == 2500


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([QUESTION], "question"),
        ({}, "question"),
        ({"question": 42}, "question"),
        ({"question": QUESTION, "colour": "red"}, "unknown fields: colour"),
        ({"question": QUESTION, "participants": "bob"}, "list of contact names"),
        ({"question": QUESTION, "participants": [1]}, "list of contact names"),
        ({"question": QUESTION, "participants": {"bob": 1}}, "list of contact names"),
        ({"question": QUESTION, "participants": ["zed"]}, "zed"),
        ({"question": QUESTION, "participants": []}, "participants"),
        ({"question": "  "}, "empty"),
        ({"question": QUESTION, "times": 5}, "times"),
        ({"question": QUESTION, "times": {"lunch": 5}}, "times"),
        ({"question": QUESTION, "times": {"answer": "5"}}, "times.answer"),
        ({"question": QUESTION, "times": {"answer": True}}, "times.answer"),
        ({"question": QUESTION, "times": {"answer": 0}}, "answer"),
        ({"question": QUESTION, "times": {"reveal": -1}}, "reveal"),
        ({"question": QUESTION, "times": {"review": 10**6}}, "review"),
        ({"question": QUESTION, "times": {"synthesis": 10**400}}, "synthesis"),
        ({"question": QUESTION, "space": 3}, "space"),
        ({"question": QUESTION, "space": "nowhere"}, "nowhere"),
    ],
)
async def test_bad_bodies_are_400(
    client: TestClient[Any, Any], service: RoundsService, body: Any, message: str
) -> None:
    status, data = await call(client, "POST", body=body)
    assert status == 400, data
    assert message in data["error"]["message"]
    assert service.askers == {} and service.store.list() == []


async def test_a_body_that_is_not_json_is_400(client: TestClient[Any, Any]) -> None:
    resp = await client.post(PREFIX, data=b"{not json", headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "bad_request"


async def test_the_token_is_required(client: TestClient[Any, Any]) -> None:
    for method in ("GET", "POST"):
        resp = await client.request(method, PREFIX, json={"question": QUESTION})
        assert resp.status == 401


# --- GET ------------------------------------------------------------------------------------


async def test_list_and_show(client: TestClient[Any, Any]) -> None:
    status, data = await call(client, "GET")
    assert (status, data) == (200, {"rounds": []})
    made = []
    for q in ("first question", "second question"):
        made.append((await call(client, "POST", body={"question": q}))[1])
    status, data = await call(client, "GET")
    assert status == 200
    assert {r["round_id"] for r in data["rounds"]} == {v["round_id"] for v in made}
    assert {r["question"] for r in data["rounds"]} == {"first question", "second question"}
    status, data = await call(client, "GET", "?limit=1")
    assert status == 200 and len(data["rounds"]) == 1

    rid = made[0]["round_id"]
    for prefix in (rid, rid[:8], rid[:12].upper()):
        status, view = await call(client, "GET", "/" + prefix)
        assert status == 200 and view["round_id"] == rid and view["question"] == "first question"


@pytest.mark.parametrize("limit", ["0", "1001", "x", "-3"])
async def test_list_with_a_bad_limit_is_400(client: TestClient[Any, Any], limit: str) -> None:
    status, data = await call(client, "GET", f"?limit={limit}")
    assert status == 400 and "limit" in data["error"]["message"]


@pytest.mark.parametrize("prefix", ["0123456789abcdef", "abc", "not-hex-at-all"])
async def test_unknown_or_bad_ids_are_404(client: TestClient[Any, Any], prefix: str) -> None:
    await call(client, "POST", body={"question": QUESTION})
    status, data = await call(client, "GET", "/" + prefix)
    assert status == 404 and data["error"]["code"] == "not_found"


async def test_show_reads_saved_views_of_forgotten_rounds(
    client: TestClient[Any, Any], service: RoundsService
) -> None:
    _, view = await call(client, "POST", body={"question": QUESTION})
    rid = bytes.fromhex(view["round_id"])
    del service.askers[rid], service.views[rid]
    status, shown = await call(client, "GET", "/" + view["round_id"][:10])
    assert status == 200 and shown["round_id"] == view["round_id"] and shown["stage"] == "commit"


async def test_cancel_a_running_round_then_follow_it(
    client: TestClient[Any, Any], service: RoundsService
) -> None:
    _, view = await call(client, "POST", body={"question": QUESTION})
    rid = view["round_id"]
    status, cancelled = await call(client, "DELETE", "/" + rid[:12])
    assert status == 200 and cancelled["status"] == "cancelled"
    assert bytes.fromhex(rid) not in service.askers
    status, again = await call(client, "DELETE", "/" + rid)
    assert status == 409 and again["error"]["code"] == "conflict"
    status, missing = await call(client, "DELETE", "/" + "ab" * 32)
    assert status == 404 and missing["error"]["code"] == "not_found"
    resp = await client.get(PREFIX + f"/{rid}/follow", headers=AUTH)
    assert resp.status == 200 and resp.content_type == "application/x-ndjson"
    lines = (await resp.text()).splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["cancelled"]  # over: one view
    assert (await client.get(PREFIX + "/nothing/follow", headers=AUTH)).status == 404
