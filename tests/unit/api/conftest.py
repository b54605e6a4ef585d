"""The node app (every route set over real services in a temp dir) and a client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.api.nodeapp import NodeApp, build


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[NodeApp]:
    n = build(tmp_path / "alice")
    yield n
    await n.close()


@pytest.fixture
async def client(node: NodeApp) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(node.app)) as c:
        yield c
