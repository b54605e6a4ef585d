"""``gateway run``: the node's life from start to a clean stop.

Order: HTTP server on loopback -> tor (launched or attached) bootstrapped ->
onion service added and published -> address printed -> serve until a stop
signal, restarting tor per ``tor.on_tor_death`` -> withdraw the service, stop
tor, stop the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Sequence
from typing import TextIO, TypeVar

from gateway.config.schema import GatewayConfig, OnionProvisioning, TorMode
from gateway.config.torrc import TorrcContext
from gateway.errors import GatewayError
from gateway.node.app import HttpServer, NodeInfo, RouteInstaller, build_app
from gateway.node.runtime_file import remove_runtime, this_process, write_runtime
from gateway.node.signals import stop_on_signals
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths
from gateway.tor import launch, onion, watchdog
from gateway.tor.capabilities import is_per_service
from gateway.tor.display import ProgressDisplay
from gateway.tor.session import TorSession, start_attached, start_launched

log = logging.getLogger("gateway.node")

T = TypeVar("T")

#: control socket file name inside the node's tor data directory
CONTROL_SOCKET = "control.sock"


class Stopped(Exception):
    """A stop signal arrived while the node was starting (not an error)."""


class NodeRunner:
    """Runs one node until it is told to stop; :meth:`run` returns the exit status."""

    def __init__(
        self,
        cfg: GatewayConfig,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        installers: Sequence[RouteInstaller] = (),
    ) -> None:
        self.cfg = cfg
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._installers = installers
        self._stop = asyncio.Event()
        self.session: TorSession | None = None
        self.spec: onion.ServiceSpec | None = None
        #: set once the service is published (for tests and embedding)
        self.published = asyncio.Event()
        self.restarts = 0

    def stop(self) -> None:
        """Ask the node to stop (as SIGTERM does)."""
        self._stop.set()

    async def run(self) -> int:
        paths = StatePaths(self.cfg.node.state_dir)
        paths.check()
        key = OnionKey.load(paths.onion_key)
        server = HttpServer(
            build_app(NodeInfo(), self._installers),
            self.cfg.http.host,
            self.cfg.http.port,
            source=self.cfg.source,
        )
        target = await server.start()
        self.spec = self._service_spec(paths, key, target)
        try:
            with stop_on_signals(self._stop):
                return await self._serve(paths, key, server.port)
        except Stopped:
            return 0
        finally:
            await self._shutdown()
            await server.stop()

    async def _serve(self, paths: StatePaths, key: OnionKey, http_port: int) -> int:
        await self._until_stopped(self._bring_up(paths, key, http_port))
        while True:
            assert self.session is not None
            reason = await self._until_stopped(self.session.wait_dead())
            decision = watchdog.decide(
                self.cfg.tor.on_tor_death,
                reason,
                restarts_done=self.restarts,
                max_restarts=self.cfg.tor.max_restarts,
            )
            await self._drop_session()
            if decision.action is watchdog.Action.EXIT:
                raise decision.error()
            log.warning("%s", decision.message)
            self.restarts += 1
            await self._until_stopped(self._bring_up(paths, key, http_port))

    async def _bring_up(self, paths: StatePaths, key: OnionKey, http_port: int) -> None:
        assert self.spec is not None
        display = ProgressDisplay(self._err)
        if self.cfg.tor.mode is TorMode.LAUNCH:
            ctx = self._torrc_context(paths, key, http_port)
            self.session = await start_launched(self.cfg, ctx, display)
        else:
            self.session = await start_attached(self.cfg, display)
        in_torrc = self.cfg.tor.mode is TorMode.LAUNCH
        await onion.add_service(self.session.control, self.spec, in_torrc=in_torrc)
        await onion.await_publication(
            self.session.hs_events, self.spec.address, timeout=self.cfg.tor.publish_timeout
        )
        write_runtime(paths, this_process(self.spec.onion, self.session.socks_port))
        print(self.spec.onion, file=self._out, flush=True)
        log.info("onion service published")
        self.published.set()

    def _torrc_context(self, paths: StatePaths, key: OnionKey, http_port: int) -> TorrcContext:
        torrc_hs = self.cfg.security.policy.onion_provisioning is OnionProvisioning.TORRC
        if torrc_hs:
            key.write_hidden_service_dir(paths.hs_dir)
        return TorrcContext(
            data_dir=paths.tor_data_dir,
            control_socket=paths.tor_data_dir / CONTROL_SOCKET,
            socks_port=self.cfg.tor.socks_port or launch.pick_free_port(),
            hidden_service_dir=paths.hs_dir if torrc_hs else None,
            hidden_service_target_port=http_port if torrc_hs else None,
        )

    def _service_spec(self, paths: StatePaths, key: OnionKey, target: str) -> onion.ServiceSpec:
        provisioning = self.cfg.security.policy.onion_provisioning
        torrc_hs = provisioning is OnionProvisioning.TORRC
        if torrc_hs and self.cfg.tor.mode is TorMode.ATTACH:
            key.write_hidden_service_dir(paths.hs_dir)
        return onion.ServiceSpec(
            address=key.address,
            key_blob=key.key_blob(),
            virtual_port=self.cfg.onion.virtual_port,
            target=target,
            provisioning=provisioning,
            hs_dir=paths.hs_dir if torrc_hs else None,
            per_service=tuple(
                (n, v) for n, v in self.cfg.security.tor_options if is_per_service(n)
            ),
        )

    async def _until_stopped(self, work: Awaitable[T]) -> T:
        """Await ``work``; cancel it and raise Stopped if a stop signal comes first."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, GatewayError):
                await task
            raise Stopped
        return task.result()

    async def _drop_session(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()

    async def _shutdown(self) -> None:
        """Withdraw the service (if tor still runs), then close and stop tor."""
        session = self.session
        if session is not None and self.spec is not None and session.death_reason() is None:
            in_torrc = self.cfg.tor.mode is TorMode.LAUNCH
            try:
                await onion.remove_service(session.control, self.spec, in_torrc=in_torrc)
            except GatewayError as exc:
                log.warning("could not remove the onion service: %s", exc)
        await self._drop_session()
        remove_runtime(StatePaths(self.cfg.node.state_dir))
        log.info("node stopped")
