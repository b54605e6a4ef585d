"""The node app fixtures of tests/unit/api, for the MCP server's tests."""

from tests.unit.api.conftest import client, node

__all__ = ["client", "node"]
