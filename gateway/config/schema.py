"""Typed, frozen configuration of a node.

This module holds only the data shapes. :mod:`gateway.config.loader` is the one
place that reads YAML and builds these objects; every other module receives a
:class:`GatewayConfig` and reads what it needs from it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config.bridges import BridgeLine
from gateway.converge.adapters.config import AIConfig


class Level(enum.Enum):
    """A security level: a documented set of tor options and app-layer policies."""

    STANDARD = "standard"
    HIGH = "high"
    PARANOID = "paranoid"


class PaddingMode(enum.Enum):
    """How session frames are padded (see docs/PROTOCOL.md)."""

    PADME_CELLS = "padme_cells"  # Padmé, then whole Tor cell payloads (498 bytes)
    BUCKETS = "buckets"  # a small set of fixed bucket sizes
    FIXED = "fixed"  # one frame size; large payloads are split


class CoverTraffic(enum.Enum):
    """Dummy frames on a link."""

    NONE = "none"
    FRONT = "front"  # random bursts at link start plus an idle timer
    CONSTANT_RATE = "constant_rate"  # fixed frame size at a fixed interval


class ApiTransport(enum.Enum):
    """Where the local API listens."""

    TCP = "tcp"  # 127.0.0.1 only
    UNIX = "unix"  # a unix socket, mode 0600


class LogRedaction(enum.Enum):
    """When identifiers (onion addresses, keys, contents) are redacted in logs."""

    DEBUG_ONLY = "debug_only"  # they may appear, but only at debug level
    ALWAYS = "always"  # never logged, at any level


class OnionProvisioning(enum.Enum):
    """How the onion service is configured in tor."""

    EPHEMERAL = "ephemeral"  # ADD_ONION over the control port, key from our state dir
    TORRC = "torrc"  # HiddenServiceDir in the torrc (needed for intro-point DoS options)


class TorMode(enum.Enum):
    LAUNCH = "launch"  # the node starts and owns its tor
    ATTACH = "attach"  # the node uses an already running tor


class OnTorDeath(enum.Enum):
    RESTART = "restart"  # restart tor and republish the same address
    EXIT = "exit"  # exit with a clear error


@dataclass(frozen=True)
class SecurityPolicy:
    """The app-layer half of a security level, after overrides.

    Later subsystems read their policy from here and nowhere else.
    """

    level: Level
    padding_mode: PaddingMode
    cover_traffic: CoverTraffic
    header_encryption: bool
    client_auth_required: bool
    api_transport: ApiTransport
    log_redaction: LogRedaction
    stream_isolation: bool
    post_quantum: bool
    onion_provisioning: OnionProvisioning


@dataclass(frozen=True)
class SecurityConfig:
    """A level's policy and tor options, with the overrides applied and remembered."""

    level: Level
    policy: SecurityPolicy
    #: tor options of the level (torrc.d/<level>.conf) with overrides applied, in order
    tor_options: tuple[tuple[str, str], ...]
    #: dotted names of the settings the YAML overrode, e.g. "policy.cover_traffic",
    #: "tor.ConnectionPadding"
    overridden: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ControlConfig:
    """How to reach tor's control interface in attach mode."""

    port: int | None = None
    socket: Path | None = None
    #: name of an environment variable that holds the control password
    password_env: str | None = None
    #: an explicit cookie file; otherwise the one tor reports in PROTOCOLINFO
    cookie_path: Path | None = None


@dataclass(frozen=True)
class TorConfig:
    mode: TorMode = TorMode.LAUNCH
    #: absolute path of the tor binary (resolved at load time in launch mode)
    binary: str = "tor"
    #: directory of a private Tor network to join (``gateway testnet up --dir DIR``)
    testnet: Path | None = None
    bootstrap_timeout: float = 120.0
    publish_timeout: float = 60.0
    on_tor_death: OnTorDeath = OnTorDeath.RESTART
    #: how many times tor is restarted before the node gives up and exits
    max_restarts: int = 3
    control: ControlConfig = field(default_factory=ControlConfig)
    #: attach mode: the running tor's SOCKS port; launch mode: None means pick a free one
    socks_port: int | None = None
    #: the node's own torrc lines, appended last (launch mode)
    extra_torrc: tuple[str, ...] = ()
    #: bridges to reach Tor through (launch mode); none means tor connects directly
    bridges: tuple[BridgeLine, ...] = ()
    #: (transport, client binary) for each transport the bridges use
    transports: tuple[tuple[str, str], ...] = ()
    #: refuse to load a config without bridges (for PARANOID users behind censorship)
    require_bridges: bool = False


@dataclass(frozen=True)
class NodeConfig:
    name: str = "node"
    #: absolute path (relative paths in YAML are resolved against the config file's folder)
    state_dir: Path = Path("state")


@dataclass(frozen=True)
class OnionConfig:
    #: the port the onion service offers to Tor clients
    virtual_port: int = 80


@dataclass(frozen=True)
class HttpConfig:
    """The local server behind the onion service. Always bound to loopback."""

    host: str = "127.0.0.1"
    #: 0 means pick a free port at start
    port: int = 0


@dataclass(frozen=True)
class ApiConfig:
    """The local API (REST, WebSocket, dashboard, metrics); where it listens is the level's."""

    #: requests per second each local client may make on average
    rate_limit: int = 200
    #: requests a client may make at once after a quiet spell
    burst: int = 400


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"  # debug | info | warning | error


@dataclass(frozen=True)
class SpaceConfig:
    """A memory space: shared with every contact (``members`` None) or with the listed ones."""

    name: str
    #: contact nicknames or identity keys (hex); None means every contact
    members: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MemoryConfig:
    #: the spaces besides (or redefining) ``default``, which is shared with every contact
    spaces: tuple[SpaceConfig, ...] = ()
    #: seconds between background syncs with each online contact
    sync_interval: float = 60.0
    #: search by meaning: entries are embedded (on this machine) and searched by vector
    semantic: bool = True
    #: a council round asked here carries the memory entries relevant to its question
    #: (and participants add theirs); default on, off at PARANOID
    council_context: bool = True
    #: how many entries a round's context carries from each side
    context_entries: int = 5


@dataclass(frozen=True)
class GatewayConfig:
    #: the YAML file this was read from (absolute), for messages
    source: Path
    node: NodeConfig
    security: SecurityConfig
    tor: TorConfig
    onion: OnionConfig
    http: HttpConfig
    logging: LoggingConfig
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    ai: AIConfig = field(default_factory=AIConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
