"""Contacts and invites through the API: two nodes pair by invite; remove revokes client auth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.contacts.client_auth import authorized_clients_dir
from gateway.contacts.local import client_auth_dir
from tests.unit.api.nodeapp import NodeApp, build


class Api:
    """One node's API as a test client."""

    def __init__(self, node: NodeApp, client: TestClient[Any, Any]) -> None:
        self.node, self.client = node, client
        self.auth = {"Authorization": f"Bearer {node.token}"}

    async def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        resp = await self.client.request(method, path, json=body, headers=self.auth)
        return resp.status, await resp.json()


async def open_api(folder: Path, name: str) -> AsyncIterator[Api]:
    node = build(folder / name)
    async with TestClient(TestServer(node.app)) as client:
        yield Api(node, client)
    await node.close()


@pytest.fixture
async def alice(tmp_path: Path) -> AsyncIterator[Api]:
    async for api in open_api(tmp_path, "alice"):
        yield api


@pytest.fixture
async def bob(tmp_path: Path) -> AsyncIterator[Api]:
    async for api in open_api(tmp_path, "bob"):
        yield api


async def test_invite_add_list_remove(alice: Api, bob: Api) -> None:
    status, invite = await alice("POST", "/api/v1/invites", {"label": "bob", "expires_in": 600})
    assert status == 201 and invite["label"] == "bob" and invite["nickname"] == "alice"
    assert invite["expires"] - invite["expires"] % 1 > 0 and invite["client_auth"] is False
    status, pending = await alice("GET", "/api/v1/invites")
    assert status == 200 and [i["label"] for i in pending["invites"]] == ["bob"]
    assert invite["invite"] not in str(pending)  # no secret in the listing

    status, added = await bob("POST", "/api/v1/contacts", {"invite": invite["invite"]})
    assert status == 201, added
    assert (added["nickname"], added["state"]) == ("alice", "pending")
    assert added["onion"] == invite["onion"]
    status, listed = await bob("GET", "/api/v1/contacts")
    assert listed == {"contacts": [added]}
    status, peers = await bob("GET", "/api/v1/peers")
    assert [p["nickname"] for p in peers["peers"]] == ["alice"]  # the link manager sees it

    status, again = await bob("POST", "/api/v1/contacts", {"invite": invite["invite"]})
    assert status == 400 and again["error"]["code"] == "invite_reused"

    status, removed = await bob("DELETE", "/api/v1/contacts/alice")
    assert status == 200 and removed["removed"]["id"] == added["id"]
    assert await bob("GET", "/api/v1/contacts") == (200, {"contacts": []})
    status, gone = await bob("DELETE", "/api/v1/contacts/alice")
    assert status == 404 and gone["error"]["code"] == "not_found"


async def test_add_with_own_nickname(alice: Api, bob: Api) -> None:
    _, invite = await alice("POST", "/api/v1/invites", {})
    status, added = await bob(
        "POST", "/api/v1/contacts", {"invite": invite["link"], "nickname": "al"}
    )
    assert status == 201 and added["nickname"] == "al"
    assert (await bob("DELETE", "/api/v1/contacts/" + added["id"][:12]))[0] == 200


async def test_own_invite_refused(alice: Api) -> None:
    _, invite = await alice("POST", "/api/v1/invites", {})
    status, error = await alice("POST", "/api/v1/contacts", {"invite": invite["invite"]})
    assert status == 400 and error["error"]["code"] == "invite_self"


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/api/v1/invites", {"expires_in": 0}, "bad_request"),
        ("/api/v1/invites", {"expires_in": 31 * 86400}, "bad_request"),
        ("/api/v1/invites", {"expires_in": True}, "bad_request"),
        ("/api/v1/invites", {"colour": "red"}, "bad_request"),
        ("/api/v1/invites", [1], "bad_request"),
        ("/api/v1/invites", {"label": "x" * 500}, "invite_malformed"),
        ("/api/v1/invites", {"nickname": " edge"}, "invite_malformed"),
        ("/api/v1/contacts", {}, "bad_request"),
        ("/api/v1/contacts", {"invite": 5}, "bad_request"),
        ("/api/v1/contacts", {"invite": "gw1:garbage"}, "invite_malformed"),
    ],
)
async def test_bad_requests(alice: Api, path: str, body: Any, code: str) -> None:
    status, error = await alice("POST", path, body)
    assert status == 400 and error["error"]["code"] == code
    assert (await alice("GET", "/api/v1/contacts"))[1] == {"contacts": []}


async def test_not_json(alice: Api) -> None:
    resp = await alice.client.post("/api/v1/contacts", data=b"{not json", headers=alice.auth)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"


async def test_oversized_body_refused(alice: Api) -> None:
    body = {"invite": "x" * (300 * 1024)}
    status, error = await alice("POST", "/api/v1/contacts", body)
    assert status == 413 and error["error"]["code"] == "request_entity_too_large"


async def test_paranoid_client_auth_files(tmp_path: Path) -> None:
    nodes = [build(tmp_path / n, n, level="paranoid") for n in ("alice", "bob")]
    try:
        async with (
            TestClient(TestServer(nodes[0].app)) as ca,
            TestClient(TestServer(nodes[1].app)) as cb,
        ):
            alice, bob = Api(nodes[0], ca), Api(nodes[1], cb)
            _, invite = await alice("POST", "/api/v1/invites", {"label": "bob"})
            assert invite["client_auth"] is True and invite["level"] == "paranoid"
            assert len(list(authorized_clients_dir(alice.node.paths.hs_dir).iterdir())) == 1
            status, added = await bob("POST", "/api/v1/contacts", {"invite": invite["invite"]})
            assert status == 201 and added["client_auth_to_reach"] is True
            bob_paths = bob.node.paths
            assert len(list(client_auth_dir(bob_paths).iterdir())) == 1
            assert len(list(authorized_clients_dir(bob_paths.hs_dir).iterdir())) == 1
            status, removed = await bob("DELETE", "/api/v1/contacts/alice")
            assert status == 200 and removed["auth_removed"] and removed["auth_private_removed"]
            assert list(client_auth_dir(bob_paths).iterdir()) == []
            assert list(authorized_clients_dir(bob_paths.hs_dir).iterdir()) == []
    finally:
        for node in nodes:
            await node.close()
