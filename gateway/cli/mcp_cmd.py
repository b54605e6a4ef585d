"""``gateway mcp``: the node as an MCP server for AI tools (stdio, or streamable HTTP)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from gateway.api.client import endpoint_and_token
from gateway.config.loader import load_config


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "mcp",
        help="serve the running node to AI tools over MCP (stdio; --http for streamable HTTP)",
        description="An MCP server over the running node's local API: memory tools, the "
        "council (council_ask) and contacts. On stdio by default, as desktop clients start "
        "it; with --http on 127.0.0.1 behind the node's API token.",
    )
    # also after the command, as MCP clients' configs usually put it: gateway mcp --config X
    parser.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="PATH",
                        help="the node's YAML config (the same as gateway --config PATH mcp)")
    parser.add_argument("--http", action="store_true",
                        help="serve streamable HTTP on loopback (prints its URL) instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address for --http")
    parser.add_argument("--port", type=int, default=0,
                        help="port for --http (default: a free one)")
    parser.add_argument("--socket", type=Path, metavar="PATH",
                        help="with --http: listen on this unix socket (mode 0600) instead "
                             "of a loopback port")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: every gateway command (gateway run too) registers this one, and the
    # MCP SDK (pydantic, starlette, uvicorn...) would add about 30 MB to each
    from gateway.mcp.http import check_loopback, serve_http
    from gateway.mcp.nodeapi import NodeApi
    from gateway.mcp.server import build_server

    cfg = load_config(args.config)
    endpoint, token = endpoint_and_token(cfg)
    server = build_server(NodeApi(endpoint, token))
    if not args.http:
        server.run("stdio")  # stdout is the protocol's: nothing else is printed there
        return 0
    if args.socket is None:
        check_loopback(args.host)

    def ready(url: str) -> None:
        print(f"{url}   (Authorization: Bearer <the token in {cfg.node.state_dir}/api.token>)",
              flush=True)  # fmt: skip

    try:
        asyncio.run(
            serve_http(
                server, token, host=args.host, port=args.port, unix=args.socket, on_ready=ready
            )
        )
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
