"""A private Tor network on loopback, for the quickstart, the tests and the benchmarks.

``TestNetwork.create(dir)`` makes keys and torrc files for three directory
authorities and some relays on 127.0.0.1 (``TestingTorNetwork 1``);
``start()`` runs them and returns once the consensus lists them all;
``stop()`` leaves no tor process behind. ``launch_client`` starts a plain tor
client of the network. Nodes join through ``DIR/client.conf``.
"""

from gateway.testnet.client import TorClient, launch_client
from gateway.testnet.network import NetworkStatus, TestNetwork

__all__ = ["NetworkStatus", "TestNetwork", "TorClient", "launch_client"]
