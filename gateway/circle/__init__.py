"""Circles: groups of contacts that order their group decisions with PBFT.

The core is sans-I/O: :class:`~gateway.circle.pbft.Replica` takes bytes, proposals and
clock ticks and returns messages to send and events. See docs/PROTOCOL-circles.md.
"""
