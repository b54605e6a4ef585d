"""An asyncio face on stem's threaded :class:`stem.control.Controller`.

Blocking stem calls run in a worker thread (:func:`asyncio.to_thread`); stem's
event and status listeners run on stem's threads and hand their data to the
event loop with ``call_soon_threadsafe``. stem's exceptions become
:class:`~gateway.errors.ControlError` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import stem
import stem.connection
import stem.control
import stem.response.events

from gateway.errors import ControlError, map_exceptions
from gateway.tor.hsdesc import HsDescEvent

log = logging.getLogger("gateway.tor")

T = TypeVar("T")

_STEM_ERRORS: dict[type[BaseException], type[ControlError]] = {
    stem.ControllerError: ControlError,
    stem.connection.AuthenticationFailure: ControlError,
    OSError: ControlError,
    ValueError: ControlError,
}


class LogMessage(str):
    """A WARN/ERR message tor logged (``"[warn] ..."``)."""


TorEvent = HsDescEvent | LogMessage | str
"""What a subscription delivers: HS_DESC fields, log messages, raw status lines."""


def convert_event(event: Any) -> TorEvent:
    """Plain data from a stem event (called on stem's event thread)."""
    if isinstance(event, stem.response.events.HSDescEvent):
        return HsDescEvent(
            action=str(event.action),
            address=str(event.address),
            directory=str(event.directory_fingerprint or event.directory or ""),
            reason=str(event.reason) if event.reason else None,
        )
    if isinstance(event, stem.response.events.LogEvent):
        return LogMessage(f"[{str(event.runlevel).lower()}] {event.message}")
    return str(event)


class TorControl:
    """A connected, authenticated control connection to one tor."""

    def __init__(self, controller: stem.control.Controller) -> None:
        self._controller = controller
        self._loop = asyncio.get_running_loop()
        self._listeners: list[Callable[[Any], None]] = []
        self.closed = asyncio.Event()
        controller.add_status_listener(self._on_status, spawn=False)

    # --- connecting ---------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        *,
        socket_path: Path | None = None,
        port: int | None = None,
        password: str | None = None,
        cookie_path: Path | None = None,
    ) -> TorControl:
        """Open the control socket (preferred) or port and authenticate."""
        if socket_path is None and port is None:
            raise ControlError("no control socket or port to connect to")
        where = str(socket_path) if socket_path is not None else f"127.0.0.1:{port}"

        def opener() -> stem.control.Controller:
            if socket_path is not None:
                return stem.control.Controller.from_socket_file(str(socket_path))
            return stem.control.Controller.from_port("127.0.0.1", port)

        try:
            with map_exceptions(_STEM_ERRORS):
                controller = await asyncio.to_thread(opener)
        except ControlError as exc:
            raise ControlError(f"cannot connect to tor's control {where}: {exc}") from exc
        try:
            await asyncio.to_thread(_authenticate, controller, password, cookie_path)
        except Exception as exc:
            await asyncio.to_thread(controller.close)
            raise ControlError(f"cannot authenticate to tor's control {where}: {exc}") from exc
        return cls(controller)

    # --- calls ----------------------------------------------------------------

    async def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking stem call in a thread, mapping its errors."""
        with map_exceptions(_STEM_ERRORS):
            return await asyncio.to_thread(func, *args, **kwargs)

    async def get_info(self, key: str) -> str:
        return str(await self.call(self._controller.get_info, key))

    async def get_conf(self, key: str) -> list[str]:
        values = await self.call(self._controller.get_conf, key, [], True)
        return [str(v) for v in values]

    async def set_options(self, pairs: Sequence[tuple[str, str]]) -> None:
        await self.call(self._controller.set_options, list(pairs))

    async def version(self) -> str:
        return str(await self.call(self._controller.get_version))

    @property
    def stem(self) -> stem.control.Controller:
        """The underlying stem controller (for calls with no wrapper here)."""
        return self._controller

    def is_alive(self) -> bool:
        return bool(self._controller.is_alive()) and not self.closed.is_set()

    # --- events -----------------------------------------------------------------

    async def subscribe(self, *event_types: str) -> asyncio.Queue[TorEvent]:
        """A queue that receives the given events until :meth:`close`."""
        queue: asyncio.Queue[TorEvent] = asyncio.Queue()

        def listener(event: Any) -> None:
            item = convert_event(event)
            self._post(queue.put_nowait, item)

        await self.call(self._controller.add_event_listener, listener, *event_types)
        self._listeners.append(listener)
        return queue

    async def unsubscribe_all(self) -> None:
        for listener in self._listeners:
            with contextlib.suppress(ControlError):
                await self.call(self._controller.remove_event_listener, listener)
        self._listeners.clear()

    def _post(self, func: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self._loop.call_soon_threadsafe(func, *args)

    def _on_status(self, _controller: Any, state: Any, _timestamp: float) -> None:
        if state == stem.control.State.CLOSED:
            self._post(self.closed.set)

    async def close(self) -> None:
        """Close the connection (idempotent); tor we own exits when it closes."""
        await self.unsubscribe_all()
        await asyncio.to_thread(self._controller.close)
        self.closed.set()


def _authenticate(
    controller: stem.control.Controller, password: str | None, cookie_path: Path | None
) -> None:
    """Authenticate with an explicit cookie file, a password, or what tor offers."""
    if cookie_path is not None:
        stem.connection.authenticate_cookie(controller, str(cookie_path))
    else:
        controller.authenticate(password=password)
