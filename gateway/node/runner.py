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
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TextIO, TypeVar

from gateway.config.schema import GatewayConfig, OnionProvisioning, TorMode
from gateway.config.torrc import NODE_SERVICE_OPTIONS, TorrcContext
from gateway.contacts.client_auth import authorized_clients_dir
from gateway.contacts.local import authorize, client_auth_dir
from gateway.errors import GatewayError
from gateway.node import memtrim
from gateway.node.app import HttpServer, NodeInfo, RouteInstaller, build_app
from gateway.node.runtime_file import remove_runtime, this_process, write_runtime
from gateway.node.services import NodeServices
from gateway.node.signals import stop_on_signals
from gateway.state.onion_key import OnionKey
from gateway.state.paths import StatePaths
from gateway.tor import launch, onion, watchdog
from gateway.tor.capabilities import is_per_service
from gateway.tor.session import TorSession, start_attached, start_launched

log = logging.getLogger("gateway.node")

T = TypeVar("T")

#: control socket file name inside the node's tor data directory
CONTROL_SOCKET = "control.sock"
#: client-auth keys authorized ahead of invites at PARANOID: this many invites per run
#: need no tor restart (tor pads its descriptor's client list to 16 entries anyway)
AUTH_POOL_SIZE = 16


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
        self.services: NodeServices | None = None
        self._restart = asyncio.Event()
        #: the next publication follows a requested restart: do not print the address again
        self._quiet = False

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
        await server.start()
        try:
            self.services = NodeServices.open(self.cfg, paths, key, server.port)
        except BaseException:
            await server.stop()
            raise
        # requests from the onion that failed are counted with the front door's (status)
        self.services.front.counters.update(server.counters)
        server.counters = self.services.front.counters
        try:
            front_port = await self.services.start()
            # our keys to reach contacts' onions: given to the running tor, at every level
            self.services.watch_client_auth(
                (client_auth_dir(paths),), self.services.load_keys, "giving tor the new keys"
            )
            if self.cfg.security.policy.client_auth_required:
                # keys for the next invites, authorized before tor reads the folder: an
                # invite takes one and needs no restart (until the pool runs dry)
                now = int(time.time())
                for public in self.services.book.fill_auth_pool(AUTH_POOL_SIZE, now):
                    authorize(paths, public)
                # who may reach our onion: tor reads it only at start (a reload under
                # Sandbox 1 makes it exit), so a change restarts tor, same address
                self.services.watch_client_auth(
                    (authorized_clients_dir(paths.hs_dir),),
                    self.request_restart,
                    "restarting tor to apply it",
                )
            self.spec = self._service_spec(paths, key, f"127.0.0.1:{front_port}")
            with stop_on_signals(self._stop):
                return await self._serve(paths, key, front_port)
        except Stopped:
            return 0
        finally:
            # links first, while tor still carries their circuits: each contact's tor then
            # hears the stream end at once (a dead tor leaves the contact guessing for up to
            # a minute: docs/LINK.md)
            try:
                await self.services.close_links()
            finally:
                await self._shutdown()
                await self.services.close()
                await server.stop()

    async def _serve(self, paths: StatePaths, key: OnionKey, front_port: int) -> int:
        """Bring tor up and keep it up; the onion points at the front door on ``front_port``."""
        await self._until_stopped(self._bring_up(paths, key, front_port))
        while True:
            assert self.session is not None
            reason = await self._until_stopped(self._dead_or_restart(self.session))
            if reason is None:
                self._quiet = True  # this publication follows a requested restart
                await self._drop_session()
                await self._until_stopped(self._bring_up(paths, key, front_port))
                continue
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
            if self.services is not None:
                self.services.status.restarts = self.restarts
            await self._until_stopped(self._bring_up(paths, key, front_port))

    def request_restart(self) -> None:
        """Restart tor (same address): it reads client authorization only at start.

        A requested restart is not news: the address is not printed again (a restart
        after tor died is, and is printed, as the service was down). Quietness is decided
        when the restart begins (:meth:`_serve`), not here: a request made while an earlier
        restart is coming up must not be spent on that one's publication."""
        self._restart.set()

    async def _dead_or_restart(self, session: TorSession) -> str | None:
        """Why tor died, or None when a restart was requested (also one requested while
        tor was coming up: the files it asks for may have changed after tor read them)."""
        dead = asyncio.ensure_future(session.wait_dead())
        asked = asyncio.ensure_future(self._restart.wait())
        try:
            await asyncio.wait({dead, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
            if not dead.done():
                dead.cancel()
        if dead.done() and not dead.cancelled():
            return dead.result()
        self._restart.clear()
        return None

    async def _bring_up(self, paths: StatePaths, key: OnionKey, front_port: int) -> None:
        assert self.spec is not None
        assert self.services is not None
        display = self.services.status.display(self._err)
        if self.cfg.tor.mode is TorMode.LAUNCH:
            ctx = self._torrc_context(paths, key, front_port)
            self.session = await start_launched(self.cfg, ctx, display)
        else:
            self.session = await start_attached(self.cfg, display)
        in_torrc = self.cfg.tor.mode is TorMode.LAUNCH
        await onion.add_service(self.session.control, self.spec, in_torrc=in_torrc)
        await onion.await_publication(
            self.session.hs_events, self.spec.address, timeout=self.cfg.tor.publish_timeout
        )
        assert self.services is not None
        self.services.tor_ready(self.session.control, self.session.socks_port)
        write_runtime(
            paths,
            this_process(
                self.spec.onion,
                self.session.socks_port,
                self.services.api.endpoint,
                int(self.spec.target.rsplit(":", 1)[1]),
            ),
        )
        self.services.status.published(self.spec.onion)
        if not self._quiet:
            print(self.spec.onion, file=self._out, flush=True)
        self._quiet = False
        log.info("onion service published")
        self.published.set()
        memtrim.trim()  # starting is done: its garbage and freed heap go back

    def _torrc_context(self, paths: StatePaths, key: OnionKey, front_port: int) -> TorrcContext:
        torrc_hs = self.cfg.security.policy.onion_provisioning is OnionProvisioning.TORRC
        if torrc_hs:
            key.write_hidden_service_dir(paths.hs_dir)
        return TorrcContext(
            data_dir=paths.tor_data_dir,
            control_socket=paths.tor_data_dir / CONTROL_SOCKET,
            socks_port=self.cfg.tor.socks_port or launch.pick_free_port(),
            hidden_service_dir=paths.hs_dir if torrc_hs else None,
            hidden_service_target_port=front_port if torrc_hs else None,
            client_onion_auth_dir=self._client_auth_dir(paths),
        )

    def _client_auth_dir(self, paths: StatePaths) -> Path:
        """``ClientOnionAuthDir`` at every level: a node of any level may hold the key to a
        paranoid contact's onion (tor loads them at start; later ones over the control port)."""
        folder = client_auth_dir(paths)
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

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
            per_service=NODE_SERVICE_OPTIONS * torrc_hs
            + tuple((n, v) for n, v in self.cfg.security.tor_options if is_per_service(n)),
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
            if self.services is not None:
                self.services.tor_gone()
                self.services.status.down()
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
