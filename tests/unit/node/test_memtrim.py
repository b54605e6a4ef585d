"""QuietTrim: one trim after a burst of links coming up, none for links going down."""

from __future__ import annotations

import asyncio

from gateway.node import memtrim


async def test_a_burst_of_links_coming_up_gives_one_trim_after_the_last() -> None:
    done = asyncio.Event()
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    def action() -> None:
        calls.append(loop.time())
        done.set()

    quiet = memtrim.QuietTrim(delay=0.05, action=action)
    started = loop.time()
    for _ in range(5):
        quiet.on_link(b"c" * 32, True, True)
    await asyncio.wait_for(done.wait(), 5)
    assert calls and len(calls) == 1 and quiet.trims == 1
    assert calls[0] - started >= 0.05


async def test_a_link_going_down_does_not_trim() -> None:
    calls: list[int] = []
    quiet = memtrim.QuietTrim(delay=0.01, action=lambda: calls.append(1))
    quiet.on_link(b"c" * 32, False, False)
    assert quiet._pending is None
    assert calls == [] and quiet.trims == 0
