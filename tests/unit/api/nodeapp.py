"""A node's full local API app over real services in a temp dir (made by ``gateway init``).

Nothing listens and no tor runs: the services are built as ``gateway run`` builds
them, and every route set is mounted on one app, as the node will mount them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.api.circle_mount import LazyCircleRoutes
from gateway.api.config_routes import ConfigRoutes
from gateway.api.contacts_routes import ContactsRoutes
from gateway.api.dashboard import DashboardRoutes
from gateway.api.events import EventBus, EventFeed, EventRoutes, FeedSources
from gateway.api.graphql_mount import LazyGraphQLRoutes
from gateway.api.memory_routes import MemoryRoutes
from gateway.api.openai_mount import LazyOpenAIRoutes
from gateway.api.ratelimit import RateLimit
from gateway.api.rounds_routes import RoundsRoutes
from gateway.api.server import LocalApi, mark_public
from gateway.api.status import NodeStatus
from gateway.cli import main
from gateway.config.loader import load_config
from gateway.config.schema import GatewayConfig
from gateway.metrics import MetricsRoutes, NodeMetrics
from gateway.node.services import NodeServices
from gateway.state.keys import IdentityKeys, load_api_token
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths


@dataclass
class NodeApp:
    cfg: GatewayConfig
    paths: StatePaths
    services: NodeServices
    api: LocalApi
    node: NodeStatus
    bus: EventBus
    feed: EventFeed
    token: str
    app: web.Application

    async def close(self) -> None:
        await self.services.close()


def init_node(folder: Path, name: str, *extra: str) -> GatewayConfig:
    """``gateway init`` into ``folder``; the loaded config."""
    config = folder / "node.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    argv = ["--config", str(config), "init", "--name", name, "--state-dir", str(folder / "state")]
    assert main([*argv, *extra]) == 0
    return load_config(config)


def build(
    folder: Path, name: str = "alice", limit: RateLimit | None = None, level: str = "standard"
) -> NodeApp:
    """A node's services and its API app with every route set (as the lead wires them)."""
    cfg = init_node(folder, name, "--level", level)
    paths = StatePaths(cfg.node.state_dir)
    key = OnionKey.load(paths.onion_key)
    services = NodeServices.open(cfg, paths, key, 0)
    node = NodeStatus(cfg.security.level)
    bus = EventBus()
    routes: list[object] = []
    api = LocalApi(
        services.links,
        services.inbox,
        lambda: {"front": dict(services.front.counters)},
        routes,  # type: ignore[arg-type]
        node=node,
        limit=limit or RateLimit(),
    )
    feed = EventFeed(
        bus,
        FeedSources(
            status=api.status_json,
            peers=api.peers_json,
            memory=services.memory.stats,
            rounds=services.rounds,
        ),
    )
    metrics = NodeMetrics(links=lambda: services.links, front=lambda: services.front)
    routes += [
        MemoryRoutes(services.memory),
        RoundsRoutes(services.rounds, services.book),
        LazyOpenAIRoutes(services.rounds, services.book),
        LazyGraphQLRoutes(services.book, services.memory, services.rounds),
        ContactsRoutes(
            services.book,
            paths,
            IdentityKeys.load(paths),
            key,
            cfg.security.policy,
            cfg.node.name,
        ),
        ConfigRoutes(cfg),
        LazyCircleRoutes(
            services.circles,  # type: ignore[arg-type]
            lambda text: services.book.find(text).identity,
            services.memory.resolve,
        ),
        EventRoutes(bus, feed),
        MetricsRoutes(metrics),
        PublicDashboard(),
    ]
    token = load_api_token(paths)
    return NodeApp(cfg, paths, services, api, node, bus, feed, token, api.app(token))


class PublicDashboard(DashboardRoutes):
    """The dashboard's routes, marked public as the node should mount them."""

    def add_to(self, app: web.Application) -> None:
        super().add_to(app)
        mark_public(app, "/dashboard")
