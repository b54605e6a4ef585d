"""The node's local API: REST on loopback (or a unix socket at PARANOID), bearer token."""
