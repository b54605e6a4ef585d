"""Adding, publishing and removing our v3 onion service on a connected tor."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from gateway.config.schema import OnionProvisioning
from gateway.errors import ControlError, PublishError
from gateway.tor import hsconf
from gateway.tor.controller import TorControl, TorEvent
from gateway.tor.hsdesc import HsDescEvent, PublicationTracker

log = logging.getLogger("gateway.tor")


@dataclass(frozen=True)
class ServiceSpec:
    """Everything tor needs to offer our onion service."""

    #: 56 characters, no ``.onion``
    address: str
    #: base64 of the expanded ed25519 key (``ADD_ONION ED25519-V3:<blob>``)
    key_blob: str
    virtual_port: int
    #: ``127.0.0.1:<port>`` of the local HTTP server
    target: str
    provisioning: OnionProvisioning
    #: the HiddenServiceDir (torrc provisioning)
    hs_dir: Path | None = None
    #: the level's per-service options, applied after HiddenServiceDir
    per_service: tuple[tuple[str, str], ...] = ()

    @property
    def onion(self) -> str:
        return f"{self.address}.onion"


async def add_service(control: TorControl, spec: ServiceSpec, *, in_torrc: bool) -> None:
    """Offer the service: ADD_ONION, or SETCONF of a HiddenServiceDir block.

    ``in_torrc`` means the launch torrc already holds the block; nothing to do.
    """
    if spec.provisioning is OnionProvisioning.EPHEMERAL:
        await _add_onion(control, spec)
    elif not in_torrc:
        await _set_blocks(control, spec, keep_ours=True)


async def remove_service(control: TorControl, spec: ServiceSpec, *, in_torrc: bool) -> None:
    """Withdraw the service from tor (DEL_ONION or SETCONF without our block)."""
    if spec.provisioning is OnionProvisioning.EPHEMERAL:
        await control.call(control.stem.remove_ephemeral_hidden_service, spec.address)
    elif not in_torrc:
        await _set_blocks(control, spec, keep_ours=False)


async def await_publication(
    events: asyncio.Queue[TorEvent], address: str, *, timeout: float
) -> None:
    """Return once an HS_DESC UPLOADED for ``address`` arrives; else PublishError."""
    tracker = PublicationTracker(address)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise tracker.error(timeout)
        try:
            event = await asyncio.wait_for(events.get(), remaining)
        except TimeoutError:
            raise tracker.error(timeout) from None
        if isinstance(event, HsDescEvent) and tracker.feed(event):
            return


async def _add_onion(control: TorControl, spec: ServiceSpec) -> None:
    try:
        response = await control.call(
            control.stem.create_ephemeral_hidden_service,
            {spec.virtual_port: spec.target},
            key_type="ED25519-V3",
            key_content=spec.key_blob,
            discard_key=True,
            detached=False,
            await_publication=False,
        )
    except ControlError as exc:
        raise PublishError(f"tor refused ADD_ONION: {exc}") from exc
    if str(response.service_id) != spec.address:
        raise PublishError(
            f"tor derived another address from our key ({response.service_id}.onion); "
            "the onion key file does not match"
        )


async def _current_blocks(control: TorControl) -> list[hsconf.Block]:
    reply = await control.call(control.stem.msg, "GETCONF HiddenServiceOptions")
    lines = [content for _code, _div, content in reply.content()]
    return hsconf.split_blocks(hsconf.parse_getconf_lines(lines))


async def _set_blocks(control: TorControl, spec: ServiceSpec, *, keep_ours: bool) -> None:
    if spec.hs_dir is None:
        raise PublishError("torrc provisioning needs a HiddenServiceDir")
    blocks = hsconf.without_dir(await _current_blocks(control), spec.hs_dir)
    if keep_ours:
        blocks.append(
            hsconf.our_block(spec.hs_dir, spec.virtual_port, spec.target, spec.per_service)
        )
    pairs = hsconf.flatten(blocks)
    try:
        if pairs:
            await control.set_options(pairs)
        else:
            await control.call(control.stem.reset_conf, "HiddenServiceDir")
    except ControlError as exc:
        raise PublishError(f"tor refused the HiddenServiceDir configuration: {exc}") from exc
