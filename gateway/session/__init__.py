"""Peer sessions, sans-I/O: the Noise handshake, the Double Ratchet, frames and padding.

Nothing under this package does I/O; every API takes bytes and returns bytes
or events. The wire format is specified in docs/PROTOCOL.md.

* :mod:`gateway.session.noise` - the Noise Protocol Framework (rev 34)
* :mod:`gateway.session.handshake` - the app handshake (XK, identities, ML-KEM)
* :mod:`gateway.session.pq` - ML-KEM-768
* :mod:`gateway.session.ratchet` - the Double Ratchet
* :mod:`gateway.session.frames`, :mod:`gateway.session.padding` - frames and padding
* :mod:`gateway.session.session` - all of it composed: seal / open with persistence
"""
