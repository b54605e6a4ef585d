"""Fixtures for integration tests on the private Tor network.

One network per test session (``testnet``), started in a temporary directory
and stopped at the end; every tor it starts is owned by the test process, so
nothing survives a crashed run. Without a tor binary these tests fail under
``CI=true`` and are skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.converge.localai import LocalAIServer, LocalAISettings
from gateway.testnet import TestNetwork, TorClient, launch_client
from tests.integration.support import Node, require_local_ai
from tests.needs import need_program


def require_tor() -> str:
    return need_program(
        "tor", "the integration tests need Debian's 'tor' package (tor not on PATH)"
    )


@pytest.fixture(scope="session")
def local_ai() -> Iterator[LocalAIServer]:
    """llama.cpp's server on the bundled SmolLM2 model, on 127.0.0.1, for the whole session."""
    require_local_ai()
    with LocalAIServer(LocalAISettings(n_ctx=2048, n_threads=2, startup_timeout=180)) as server:
        yield server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def testnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestNetwork]:
    """A started private Tor network shared by the whole test session."""
    tor = require_tor()
    network = TestNetwork.create(tmp_path_factory.mktemp("testnet"), relays=4, tor_binary=tor)
    try:
        network.start(timeout=180, owner_pid=os.getpid())
        yield network
    finally:
        network.stop()


@pytest.fixture(scope="session")
def tor_client(
    testnet: TestNetwork, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TorClient]:
    """A separate tor client of the private network (its SOCKS port reaches onions)."""
    client = launch_client(testnet, tmp_path_factory.mktemp("client"), owner_pid=os.getpid())
    try:
        yield client
    finally:
        client.stop()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    """``gateway run`` subprocesses a test started; any still running are killed after it."""
    started: list[Node] = []
    yield started
    for node in started:
        if node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()
        # shown by pytest only when the test failed: what each node logged last
        print(f"--- node {node.config.name}: last log lines", *node.stderr[-60:], sep="\n")
