"""gateway: a node that lives behind Tor.

A node is published as a v3 onion service, talks to its contacts over mutually
authenticated Double-Ratchet sessions, and runs memory sync and AI convergence
over those links.
"""

__version__ = "0.1.0"

PROTOCOL_VERSION = 2
