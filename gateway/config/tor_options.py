"""Rules about tor options: which exist, which are per-service, which the node owns.

Pure functions over strings; no I/O.
"""

from __future__ import annotations

from gateway.config.tor_option_names import TOR_OPTIONS

#: options that belong to one onion service and must follow its HiddenServiceDir line
PER_SERVICE: frozenset[str] = frozenset(
    name
    for name in TOR_OPTIONS.values()
    if name.startswith("HiddenService")
    and name
    not in {
        "HiddenServiceSingleHopMode",
        "HiddenServiceNonAnonymousMode",
        "HiddenServiceStatistics",
    }
)

#: options the node sets itself (torrc.d/base.conf and the HiddenServiceDir block)
OWNED: frozenset[str] = frozenset(
    {
        "DataDirectory",
        "ControlPort",
        "ControlSocket",
        "ControlSocketsGroupWritable",
        "CookieAuthentication",
        "CookieAuthFile",
        "CookieAuthFileGroupReadable",
        "HashedControlPassword",
        "SocksPort",
        "HiddenServiceDir",
        "HiddenServicePort",
        "HiddenServiceVersion",
        "ClientOnionAuthDir",
        "RunAsDaemon",
        "PidFile",
    }
)

#: options that would take the node out from behind Tor; refused at every level
ILLEGAL: frozenset[str] = frozenset(
    {
        "HiddenServiceSingleHopMode",
        "HiddenServiceNonAnonymousMode",
        "HiddenServiceDirGroupReadable",
        "HiddenServiceExportCircuitID",
        "HiddenServiceAllowUnknownPorts",
        "HiddenServiceOnionBalanceInstance",
        "ORPort",
        "DirPort",
        "DNSPort",
        "TransPort",
        "NATDPort",
        "HTTPTunnelPort",
        "MetricsPort",
        "ExtORPort",
    }
)

#: option -> values that weaken a level when set (refused at paranoid)
WEAKENING: dict[str, frozenset[str]] = {
    "SafeLogging": frozenset({"0", "relay"}),
    "Sandbox": frozenset({"0"}),
    "ConnectionPadding": frozenset({"0", "auto"}),
    "ReducedConnectionPadding": frozenset({"1"}),
    "VanguardsLiteEnabled": frozenset({"0"}),
    "UseEntryGuards": frozenset({"0"}),
    "DisableDebuggerAttachment": frozenset({"0"}),
    "HiddenServicePoWDefensesEnabled": frozenset({"0"}),
    "HiddenServiceEnableIntroDoSDefense": frozenset({"0"}),
}


def canonical_name(name: str) -> str | None:
    """Tor's spelling of an option name (matched case-insensitively), or None if unknown."""
    return TOR_OPTIONS.get(name.lstrip("+/").lower())


def is_per_service(name: str) -> bool:
    """Whether ``name`` is an option of one onion service (goes after HiddenServiceDir)."""
    return name in PER_SERVICE


def bad_value_char(value: str) -> str | None:
    """The first newline or control character in ``value`` (None when the value is clean)."""
    for ch in value:
        if ch in "\r\n" or (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F:
            return ch
    return None


def split_line(line: str) -> tuple[str, str]:
    """Split a torrc line ``Name value`` into its name and (stripped) value."""
    parts = line.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def weakens(name: str, value: str) -> bool:
    """Whether setting ``name`` to ``value`` is known to weaken anonymity or hardening."""
    return value.strip().lower() in WEAKENING.get(name, frozenset())
