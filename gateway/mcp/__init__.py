"""The node's MCP server (Model Context Protocol): AI tools read and write shared memory and
put questions to the council through the running node's local API.

``gateway mcp`` serves it on stdio (desktop clients start it as a subprocess);
``gateway mcp --http`` serves streamable HTTP on 127.0.0.1 behind the API token.
"""
