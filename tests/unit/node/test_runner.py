"""NodeRunner's life cycle with tor replaced by fakes: publish, restart, exit, stop."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.api.status import NodeStatus
from gateway.config.levels import POLICIES
from gateway.config.schema import (
    GatewayConfig,
    HttpConfig,
    Level,
    LoggingConfig,
    NodeConfig,
    OnionConfig,
    OnTorDeath,
    SecurityConfig,
    TorConfig,
)
from gateway.contacts.client_auth import ClientAuthKey, auth_file_path, authorized_clients_dir
from gateway.errors import PublishError, TorDiedError
from gateway.node import runner as runner_mod
from gateway.node.runner import NodeRunner
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths

ADDR = "g" * 56


class FakeKey:
    address = ADDR

    def key_blob(self) -> str:
        return "QUJD"

    def write_hidden_service_dir(self, directory: Path) -> None:
        """HIGH and PARANOID write the service's keys for tor's torrc (only the folder here)."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)


class FakeSession:
    def __init__(self, dies: bool) -> None:
        self.dies = dies
        self.control = object()
        self.hs_events: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False
        self.socks_port: int | None = 9050

    def death_reason(self) -> str | None:
        return "tor was killed by SIGKILL" if self.dies or self.closed else None

    async def wait_dead(self) -> str:
        if self.dies:
            return "tor was killed by SIGKILL"
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def close_links(self) -> None:
        self.links_closed_with_tor = [not s.closed for s in self.world_sessions]

    async def close(self) -> None:
        self.closed = True


class PoolBook:
    """The contact book's pool of pre-authorized client-auth keys."""

    def __init__(self) -> None:
        self.keys = [ClientAuthKey.generate().public for _ in range(3)]
        self.asked: list[int] = []

    def fill_auth_pool(self, size: int, now: int) -> tuple[bytes, ...]:
        self.asked.append(size)
        return tuple(self.keys)


class FakeServices:
    """The node's services without a database or sockets."""

    def __init__(self) -> None:
        self.ready: list[int | None] = []
        self.closed = False
        self.api = type("Api", (), {"endpoint": "http://127.0.0.1:1"})()
        self.status = NodeStatus(Level.STANDARD)  # what the API's status route shows
        self.watches: list[tuple[tuple[str, ...], Any]] = []
        #: the files in each watched folder when its watch began
        self.seen_at_watch: list[set[str]] = []
        self.book = PoolBook()
        self.loads = 0
        self.front = type("Front", (), {"counters": Counter[str]()})()
        #: the tor sessions so far (the world's), and which still ran when links closed
        self.world_sessions: list[FakeSession] = []
        self.links_closed_with_tor: list[bool] | None = None

    async def start(self) -> int:
        return 8181

    def watch_client_auth(self, folders: tuple[Path, ...], on_change: Any, what: str) -> None:
        self.watches.append((tuple(f.name for f in folders), on_change))
        self.seen_at_watch.append({p.name for f in folders if f.is_dir() for p in f.iterdir()})

    def load_keys(self) -> None:
        self.loads += 1

    def tor_ready(self, control: Any, socks_port: int | None) -> None:
        self.ready.append(socks_port)

    def tor_gone(self) -> None:
        self.ready.append(None)

    async def close_links(self) -> None:
        self.links_closed_with_tor = [not s.closed for s in self.world_sessions]

    async def close(self) -> None:
        self.closed = True


class World:
    """Records what the runner did to tor."""

    def __init__(self, deaths: int, fail_publish: bool = False) -> None:
        self.deaths = deaths
        self.fail_publish = fail_publish
        self.sessions: list[FakeSession] = []
        self.added = 0
        self.removed = 0
        self.services = FakeServices()
        self.services.world_sessions = self.sessions
        #: called as each tor session starts (before it publishes)
        self.on_start: Callable[[], None] = lambda: None


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> World:
    w = World(*getattr(request, "param", (0,)))

    async def start_launched(cfg: Any, ctx: Any, display: Any) -> FakeSession:
        session = FakeSession(dies=len(w.sessions) < w.deaths)
        w.sessions.append(session)
        w.on_start()
        return session

    async def add_service(control: Any, spec: Any, *, in_torrc: bool) -> None:
        w.added += 1

    async def await_publication(events: Any, address: str, *, timeout: float) -> None:
        if w.fail_publish:
            raise PublishError("not published")

    async def remove_service(control: Any, spec: Any, *, in_torrc: bool) -> None:
        w.removed += 1

    monkeypatch.setattr(runner_mod, "start_launched", start_launched)
    monkeypatch.setattr(runner_mod.onion, "add_service", add_service)
    monkeypatch.setattr(runner_mod.onion, "await_publication", await_publication)
    monkeypatch.setattr(runner_mod.onion, "remove_service", remove_service)
    monkeypatch.setattr(runner_mod.StatePaths, "check", lambda self: None)
    monkeypatch.setattr(runner_mod.OnionKey, "load", classmethod(lambda cls, path: FakeKey()))
    monkeypatch.setattr(runner_mod.NodeServices, "open", classmethod(lambda cls, *a: w.services))
    return w


def config(
    tmp_path: Path,
    policy: OnTorDeath = OnTorDeath.RESTART,
    restarts: int = 3,
    level: Level = Level.STANDARD,
) -> GatewayConfig:
    (tmp_path / "state").mkdir(mode=0o700, exist_ok=True)
    return GatewayConfig(
        source=tmp_path / "node.yaml",
        node=NodeConfig(state_dir=tmp_path / "state"),
        security=SecurityConfig(level, POLICIES[level], ()),
        tor=TorConfig(on_tor_death=policy, max_restarts=restarts),
        onion=OnionConfig(),
        http=HttpConfig(),
        logging=LoggingConfig(),
    )


async def run_until_published(node: NodeRunner) -> asyncio.Task[int]:
    task = asyncio.ensure_future(node.run())
    await asyncio.wait_for(node.published.wait(), 5)
    return task


async def test_publish_print_and_stop(tmp_path: Path, world: World) -> None:
    out = io.StringIO()
    node = NodeRunner(config(tmp_path), out=out, err=io.StringIO())
    task = await run_until_published(node)
    assert out.getvalue() == f"{ADDR}.onion\n"
    assert node.spec is not None and node.spec.target == "127.0.0.1:8181"  # the front door
    runtime = json.loads((tmp_path / "state" / "node.json").read_text())
    assert runtime["socks_port"] == 9050 and runtime["api"] == "http://127.0.0.1:1"
    status = world.services.status.as_json()  # what GET /api/v1/status shows
    assert status["onion"] == f"{ADDR}.onion" and status["level"] == "standard"
    node.stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert world.removed == 1 and world.sessions[0].closed
    assert world.services.ready == [9050, None] and world.services.closed
    assert not (tmp_path / "state" / "node.json").exists()
    # links closed while tor still ran (contacts hear the streams end), then tor
    assert world.services.links_closed_with_tor == [True]


async def test_client_auth_keys_are_watched_at_every_level(tmp_path: Path, world: World) -> None:
    """A standard node may hold the key to a paranoid contact's onion: its client_auth/
    folder is watched (and handed to tor live), without restarting tor."""
    node = NodeRunner(config(tmp_path), out=io.StringIO(), err=io.StringIO())
    task = await run_until_published(node)
    [(folders, on_change)] = world.services.watches
    assert folders == ("client_auth",) and on_change == world.services.load_keys
    ctx = node._torrc_context(StatePaths(tmp_path / "state"), OnionKey.generate(), 8181)
    assert ctx.client_onion_auth_dir == tmp_path / "state" / "client_auth"
    node.stop()
    assert await asyncio.wait_for(task, 5) == 0


async def test_a_requested_restart_does_not_print_the_address_again(
    tmp_path: Path, world: World
) -> None:
    """A restart for client authorization (a paranoid invite) is not news; the address
    is printed once, and again only when tor died and came back."""
    out = io.StringIO()
    node = NodeRunner(config(tmp_path), out=out, err=io.StringIO())
    task = await run_until_published(node)
    node.request_restart()
    for _ in range(200):
        if len(world.sessions) == 2 and world.services.status.tor == "published":
            break
        await asyncio.sleep(0.01)
    assert len(world.sessions) == 2
    node.stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert out.getvalue() == f"{ADDR}.onion\n"


async def test_a_restart_requested_while_another_comes_up_is_quiet_too(
    tmp_path: Path, world: World
) -> None:
    """Two invites in a row at PARANOID: the second request lands while the first restart's
    tor is coming up. Both restarts happen (the second tor reads the newer files) and
    neither prints the address: the first publication must not spend the second's quiet."""
    out = io.StringIO()
    node = NodeRunner(config(tmp_path), out=out, err=io.StringIO())
    task = await run_until_published(node)
    world.on_start = lambda: node.request_restart() if len(world.sessions) == 2 else None
    node.request_restart()
    for _ in range(300):
        if len(world.sessions) == 3 and world.services.status.tor == "published":
            break
        await asyncio.sleep(0.01)
    assert len(world.sessions) == 3
    node.stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert out.getvalue() == f"{ADDR}.onion\n"


async def test_a_paranoid_node_authorizes_its_key_pool_before_tor_reads_it(
    tmp_path: Path, world: World
) -> None:
    """Invites take pre-authorized keys, so the pool's .auth files must be in place before
    the watcher's baseline (and tor's start): then no invite from the pool restarts tor."""
    node = NodeRunner(config(tmp_path, level=Level.PARANOID), out=io.StringIO(), err=io.StringIO())
    task = await run_until_published(node)
    assert world.services.book.asked == [runner_mod.AUTH_POOL_SIZE]
    folder = authorized_clients_dir(tmp_path / "state" / "hs")
    expected = {auth_file_path(folder, key).name for key in world.services.book.keys}
    assert {p.name for p in folder.iterdir()} == expected
    names = [w[0] for w in world.services.watches]
    assert names == [("client_auth",), ("authorized_clients",)]
    assert world.services.seen_at_watch[1] == expected  # in place before the watch began
    node.stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert len(world.sessions) == 1  # no restart


@pytest.mark.parametrize("world", [(2,)], indirect=True)
async def test_restart_republishes_same_address(tmp_path: Path, world: World) -> None:
    out = io.StringIO()
    node = NodeRunner(config(tmp_path), out=out, err=io.StringIO())
    task = asyncio.ensure_future(node.run())
    for _ in range(100):
        if len(world.sessions) == 3:
            break
        await asyncio.sleep(0.01)
    node.stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert node.restarts == 2 and world.added == 3
    assert world.services.status.as_json()["tor_restarts"] == 2
    assert out.getvalue().splitlines() == [f"{ADDR}.onion"] * 3
    assert all(s.closed for s in world.sessions)


@pytest.mark.parametrize("world", [(5,)], indirect=True)
async def test_gives_up_after_max_restarts(tmp_path: Path, world: World) -> None:
    node = NodeRunner(config(tmp_path, restarts=2), out=io.StringIO(), err=io.StringIO())
    with pytest.raises(TorDiedError, match="gave up after 2"):
        await asyncio.wait_for(node.run(), 5)
    assert len(world.sessions) == 3 and all(s.closed for s in world.sessions)


@pytest.mark.parametrize("world", [(1,)], indirect=True)
async def test_exit_policy(tmp_path: Path, world: World) -> None:
    node = NodeRunner(config(tmp_path, OnTorDeath.EXIT), out=io.StringIO(), err=io.StringIO())
    with pytest.raises(TorDiedError, match=r"SIGKILL.*'exit'"):
        await asyncio.wait_for(node.run(), 5)
    assert len(world.sessions) == 1 and world.sessions[0].closed and world.removed == 0


@pytest.mark.parametrize("world", [(0, True)], indirect=True)
async def test_publish_failure_stops_tor(tmp_path: Path, world: World) -> None:
    node = NodeRunner(config(tmp_path), out=io.StringIO(), err=io.StringIO())
    with pytest.raises(PublishError):
        await asyncio.wait_for(node.run(), 5)
    assert world.sessions[0].closed


async def test_stop_during_start_is_clean(
    tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()

    async def slow_start(cfg: Any, ctx: Any, display: Any) -> FakeSession:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    monkeypatch.setattr(runner_mod, "start_launched", slow_start)
    node = NodeRunner(config(tmp_path), out=io.StringIO(), err=io.StringIO())
    task = asyncio.ensure_future(node.run())
    await asyncio.wait_for(started.wait(), 5)
    node.stop()
    assert await asyncio.wait_for(task, 5) == 0
