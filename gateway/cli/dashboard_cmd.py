"""``gateway dashboard``: where the running node's dashboard is (and, at PARANOID, a way in)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from gateway.api.relay import UnixRelay
from gateway.config.loader import load_config
from gateway.errors import ApiError, StateError
from gateway.node.runtime_file import read_runtime
from gateway.state.paths import StatePaths

PAGE = "/dashboard"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "dashboard",
        help="print the dashboard's URL; at PARANOID serve it on a loopback port meanwhile",
    )
    parser.add_argument(
        "--port", type=int, default=0,
        help="loopback port for the relay to the API socket (PARANOID; default: a free one)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    paths = StatePaths(cfg.node.state_dir)
    info = read_runtime(paths)
    token_file = paths.api_token
    if info.api.startswith("http"):
        print(f"{info.api}{PAGE}   (unlock it with the token in {token_file})")
        return 0
    if not info.api.startswith("unix:"):
        raise StateError("the running node has no local API endpoint")
    socket = Path(info.api.removeprefix("unix:"))
    return asyncio.run(_relay(UnixRelay(socket, args.port), str(token_file)))


async def _relay(relay: UnixRelay, token_file: str) -> int:
    try:
        port = await relay.start()
    except OSError as exc:
        raise ApiError(f"cannot listen on 127.0.0.1:{relay.port}: {exc.strerror}") from None
    print(f"http://127.0.0.1:{port}{PAGE}   (unlock it with the token in {token_file})")
    print("relaying to the node's API socket; Ctrl-C ends it", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await relay.stop()
    return 0
