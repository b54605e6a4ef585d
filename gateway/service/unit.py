"""The systemd unit that runs ``gateway run`` as a service (pure: text in, text out).

The unit runs the node as an unprivileged system user, in systemd's sandbox: the
whole file system read-only (``ProtectSystem=strict``) except the node's
``StateDirectory`` (``/var/lib/<name>``), no new privileges, private ``/tmp`` and
devices, no capabilities, only the address families the node uses (loopback TCP to
its own tor, unix sockets). SIGTERM stops it cleanly (``gateway run`` handles it),
and it is restarted when it fails. See docs/SERVICE.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ServiceError

#: a system user or unit name: what useradd and systemd both accept
_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,30}")
STATE_ROOT = Path("/var/lib")


@dataclass(frozen=True)
class UnitSpec:
    """What the unit needs to know: who runs what, with which config."""

    #: the unit's name (``NAME.service``) and its StateDirectory (``/var/lib/NAME``)
    name: str
    #: the unprivileged user (and group) the node runs as
    user: str
    #: the interpreter of the installed package (a venv's ``bin/python``)
    python: Path
    #: the node's YAML config (absolute)
    config: Path

    @property
    def state_directory(self) -> Path:
        return STATE_ROOT / self.name

    def check(self) -> None:
        """ServiceError naming what cannot go into a unit."""
        for what, value in (("service name", self.name), ("user", self.user)):
            if not _NAME.fullmatch(value):
                raise ServiceError(f"{what} {value!r}: want 1-31 of [a-z0-9_-], not a digit first")
        if self.user == "root":
            raise ServiceError("the service must not run as root: name an unprivileged user")
        for what, path in (("python", self.python), ("config", self.config)):
            if not path.is_absolute() or any(c in str(path) for c in ' \t\n"\'\\%$;'):
                raise ServiceError(f"{what} path {str(path)!r}: want an absolute path "
                                   "without spaces, quotes, '%', '$', ';' or backslashes")


def _home_protection(spec: UnitSpec) -> str:
    """``ProtectHome``: hide /home, /root and /run/user unless the code or config is there."""
    homes = (Path("/home"), Path("/root"), Path("/run/user"))
    inside = any(p.is_relative_to(h) for p in (spec.python, spec.config) for h in homes)
    return "read-only" if inside else "yes"


def render_unit(spec: UnitSpec) -> str:
    """The unit file's text for ``spec`` (checked first)."""
    spec.check()
    return f"""\
# {spec.name}.service: gateway, a node behind Tor (written by `gateway service install`).
# See docs/SERVICE.md. The node's state lives in {spec.state_directory} (StateDirectory).
[Unit]
Description=gateway: a node behind Tor (v3 onion service)
Documentation=man:tor(1)
After=network-online.target
Wants=network-online.target
# at most 5 starts in 10 minutes, then it stays down (see `systemctl status`)
StartLimitIntervalSec=600
StartLimitBurst=5

[Service]
Type=simple
User={spec.user}
Group={spec.user}
ExecStart={spec.python} -m gateway --config {spec.config} run
# gateway run stops tor and closes its links on SIGTERM
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=45
Restart=on-failure
RestartSec=5
StateDirectory={spec.name}
StateDirectoryMode=0700
UMask=0077
Environment=PYTHONUNBUFFERED=1 HOME={spec.state_directory}

# the sandbox
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome={_home_protection(spec)}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
# seccomp: tor's own Sandbox (on at PARANOID) installs its filter with it
SystemCallFilter=@system-service seccomp
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""
