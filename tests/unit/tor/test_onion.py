from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.config.schema import OnionProvisioning
from gateway.errors import ControlError, PublishError
from gateway.tor import onion
from gateway.tor.hsdesc import HsDescEvent
from tests.unit.tor.fakes import FakeControl, FakeStem

ADDR = "c" * 56


def spec(provisioning: OnionProvisioning, hs_dir: Path | None = None) -> onion.ServiceSpec:
    return onion.ServiceSpec(
        address=ADDR,
        key_blob="QUJD",
        virtual_port=80,
        target="127.0.0.1:9000",
        provisioning=provisioning,
        hs_dir=hs_dir,
        per_service=(("HiddenServicePoWDefensesEnabled", "1"),),
    )


async def test_await_publication_ignores_noise() -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in (
        "STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED",
        HsDescEvent("UPLOADED", "d" * 56),
        HsDescEvent("UPLOAD", ADDR),
        HsDescEvent("UPLOADED", ADDR),
    ):
        queue.put_nowait(item)
    await onion.await_publication(queue, ADDR, timeout=1)
    assert queue.empty()


async def test_await_publication_times_out_with_details() -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    queue.put_nowait(HsDescEvent("UPLOAD", ADDR))
    queue.put_nowait(HsDescEvent("FAILED", ADDR, "$AB", "UPLOAD_REJECTED"))
    with pytest.raises(PublishError, match=r"1 uploads started, 1 failed.*UPLOAD_REJECTED"):
        await onion.await_publication(queue, ADDR, timeout=0.05)


async def test_ephemeral_add_passes_our_key() -> None:
    control = FakeControl(stem=FakeStem(ADDR))
    await onion.add_service(control, spec(OnionProvisioning.EPHEMERAL), in_torrc=False)  # type: ignore[arg-type]
    [(kind, (ports, kw))] = control.stem.calls
    assert kind == "add" and ports == {80: "127.0.0.1:9000"}
    assert kw["key_type"] == "ED25519-V3" and kw["key_content"] == "QUJD"
    assert kw["detached"] is False and kw["discard_key"] is True


async def test_ephemeral_wrong_address_is_refused() -> None:
    control = FakeControl(stem=FakeStem("e" * 56))
    with pytest.raises(PublishError, match="does not match"):
        await onion.add_service(control, spec(OnionProvisioning.EPHEMERAL), in_torrc=False)  # type: ignore[arg-type]


async def test_ephemeral_refusal_is_publish_error() -> None:
    control = FakeControl(stem=FakeStem(ADDR))
    control.stem.refuse = "Onion address collision"
    with pytest.raises(PublishError, match="collision"):
        await onion.add_service(control, spec(OnionProvisioning.EPHEMERAL), in_torrc=False)  # type: ignore[arg-type]


async def test_ephemeral_remove() -> None:
    control = FakeControl(stem=FakeStem(ADDR))
    await onion.remove_service(control, spec(OnionProvisioning.EPHEMERAL), in_torrc=False)  # type: ignore[arg-type]
    assert control.stem.calls == [("del", ADDR)]


async def test_torrc_in_launch_mode_does_nothing() -> None:
    control = FakeControl(stem=FakeStem(ADDR))
    s = spec(OnionProvisioning.TORRC, Path("/srv/hs"))
    await onion.add_service(control, s, in_torrc=True)  # type: ignore[arg-type]
    await onion.remove_service(control, s, in_torrc=True)  # type: ignore[arg-type]
    assert control.stem.calls == [] and control.set_calls == []


async def test_torrc_attach_keeps_other_services() -> None:
    other = ["HiddenServiceDir=/var/lib/tor/other", "HiddenServicePort=22 127.0.0.1:22"]
    control = FakeControl(stem=FakeStem(ADDR, other))
    s = spec(OnionProvisioning.TORRC, Path("/srv/hs"))
    await onion.add_service(control, s, in_torrc=False)  # type: ignore[arg-type]
    assert control.set_calls == [
        [
            ("HiddenServiceDir", "/var/lib/tor/other"),
            ("HiddenServicePort", "22 127.0.0.1:22"),
            ("HiddenServiceDir", "/srv/hs"),
            ("HiddenServicePort", "80 127.0.0.1:9000"),
            ("HiddenServicePoWDefensesEnabled", "1"),
        ]
    ]


async def test_torrc_attach_remove_resets_when_alone() -> None:
    ours = ["HiddenServiceDir=/srv/hs", "HiddenServicePort=80 127.0.0.1:9000"]
    control = FakeControl(stem=FakeStem(ADDR, ours))
    await onion.remove_service(
        control, spec(OnionProvisioning.TORRC, Path("/srv/hs")), in_torrc=False
    )  # type: ignore[arg-type]
    assert ("reset", "HiddenServiceDir") in control.stem.calls
    assert control.set_calls == []


async def test_torrc_refusal_is_publish_error() -> None:
    control = FakeControl(stem=FakeStem(ADDR))

    async def refuse(pairs: list[tuple[str, str]]) -> None:
        raise ControlError("Directory /srv/hs cannot be read")

    control.set_options = refuse  # type: ignore[method-assign]
    with pytest.raises(PublishError, match="cannot be read"):
        await onion.add_service(
            control, spec(OnionProvisioning.TORRC, Path("/srv/hs")), in_torrc=False
        )  # type: ignore[arg-type]
