"""torrc text for the nodes of a private Tor network (pure functions, no I/O).

The options follow tor's ``TestingTorNetwork`` mode and the fast-voting
schedule that chutney's templates document: three directory authorities vote
every 20 seconds, every node is forced to be a Guard and an HSDir, and relays
assume they are reachable, so a network of a handful of relays is usable about
half a minute after start. No relay is an exit: the network carries onion-service traffic only,
and nothing can leave it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"


class TorDirectory:
    """Where a tor of the network keeps its torrc and pid file (its ``directory``)."""

    directory: Path

    @property
    def torrc_path(self) -> Path:
        return self.directory / "torrc"

    @property
    def pid_file(self) -> Path:
        return self.directory / "pid"


@dataclass(frozen=True)
class NodeSpec(TorDirectory):
    """One tor process of the network."""

    nickname: str
    authority: bool
    orport: int
    dirport: int
    directory: Path
    #: RSA identity fingerprint (40 hex), known once keys exist
    fingerprint: str = ""
    #: v3 authority identity (40 hex), authorities only
    v3ident: str = ""


def dir_authority_line(node: NodeSpec) -> str:
    """The ``DirAuthority`` line that makes every tor of the network trust ``node``."""
    return (
        f"DirAuthority {node.nickname} orport={node.orport} no-v2 v3ident={node.v3ident} "
        f"{LOOPBACK}:{node.dirport} {node.fingerprint}"
    )


def client_lines(authorities: Sequence[NodeSpec]) -> list[str]:
    """torrc lines a client (or a node's own tor) adds to join the network."""
    return [
        "TestingTorNetwork 1",
        "PathsNeededToBuildCircuits 0.67",
        *(dir_authority_line(a) for a in authorities),
    ]


_COMMON = """\
TestingTorNetwork 1
PathsNeededToBuildCircuits 0.67
TestingDirAuthVoteHSDir *
TestingDirAuthVoteGuard *
TestingMinExitFlagThreshold 0
V3AuthNIntervalsValid 2
DataDirectory {directory}
RunAsDaemon 0
Nickname {nickname}
ContactInfo {nickname}@gateway.testnet
ShutdownWaitLength 0
PidFile {directory}/pid
Log notice file {directory}/notice.log
SafeLogging 0
ProtocolWarnings 1
LogTimeGranularity 1
Sandbox 0
SocksPort 0
ControlPort 0
Address {host}
ORPort {host}:{orport}
DirPort {host}:{dirport}
AssumeReachable 1
ExitRelay 0
ExitPolicy reject *:*
ServerDNSDetectHijacking 0
ServerDNSTestAddresses
ServerDNSResolvConfFile /dev/null
"""

_AUTHORITY = """\
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
TestingV3AuthInitialVotingInterval 20
TestingV3AuthInitialVoteDelay 4
TestingV3AuthInitialDistDelay 4
V3AuthVotingInterval 20
V3AuthVoteDelay 4
V3AuthDistDelay 4
"""


def node_torrc(node: NodeSpec, authorities: Sequence[NodeSpec]) -> str:
    """The whole torrc of one authority or relay."""
    text = _COMMON.format(
        directory=node.directory,
        nickname=node.nickname,
        host=LOOPBACK,
        orport=node.orport,
        dirport=node.dirport,
    )
    if node.authority:
        text += _AUTHORITY
    text += "".join(dir_authority_line(a) + "\n" for a in authorities)
    return text
