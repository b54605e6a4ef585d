"""A stand-in for TorControl: scripted GETINFO answers, queues for events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gateway.errors import ControlError


class FakeStem:
    """The stem controller calls that gateway.tor.onion makes."""

    def __init__(self, service_id: str, hs_options: list[str] | None = None) -> None:
        self.service_id = service_id
        self.hs_options = hs_options or []
        self.calls: list[tuple[str, Any]] = []
        self.refuse: str | None = None

    def create_ephemeral_hidden_service(self, ports: dict[int, str], **kw: Any) -> Any:
        self.calls.append(("add", (ports, kw)))
        if self.refuse:
            raise ControlError(self.refuse)
        return type("Reply", (), {"service_id": self.service_id})()

    def remove_ephemeral_hidden_service(self, service_id: str) -> bool:
        self.calls.append(("del", service_id))
        return True

    def msg(self, text: str) -> Any:
        self.calls.append(("msg", text))
        lines = [*self.hs_options, "HiddenServiceOptions"]
        return type("Reply", (), {"content": lambda _self: [("250", " ", x) for x in lines]})()

    def reset_conf(self, name: str) -> None:
        self.calls.append(("reset", name))


class FakeControl:
    def __init__(self, phases: list[str] | None = None, stem: FakeStem | None = None) -> None:
        self.phases = phases or []
        self.info: dict[str, str] = {}
        self.conf: dict[str, list[str]] = {}
        self.tor_version = "0.4.9.11"
        self.queues: dict[str, asyncio.Queue[Any]] = {}
        self.closed = asyncio.Event()
        self.alive = True
        self.set_calls: list[list[tuple[str, str]]] = []
        self.stem = stem or FakeStem("x" * 56)

    async def subscribe(self, *event_types: str) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        for kind in event_types:
            self.queues[kind] = queue
        return queue

    def emit(self, kind: str, item: Any) -> None:
        self.queues[kind].put_nowait(item)

    async def get_info(self, key: str) -> str:
        if key == "status/bootstrap-phase":
            if len(self.phases) > 1:
                return self.phases.pop(0)
            return self.phases[0]
        return self.info[key]

    async def get_conf(self, key: str) -> list[str]:
        return self.conf.get(key, [])

    async def set_options(self, pairs: list[tuple[str, str]]) -> None:
        self.set_calls.append(list(pairs))

    async def version(self) -> str:
        return self.tor_version

    async def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    def is_alive(self) -> bool:
        return self.alive

    async def close(self) -> None:
        self.closed.set()
