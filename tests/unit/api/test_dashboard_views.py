"""The dashboard's memory and pairing views in headless chromium against real node APIs
(services over SQLite, no Tor): markup in data stays text, and two nodes' pages pair them.
The council view runs a real round in tests/integration/test_dashboard_views.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.needs import need_chromium
from tests.unit.api.nodeapp import NodeApp, build

HOSTILE = '<img src=x id="pwned">heron'


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[NodeApp, NodeApp]]:
    alice, bob = build(tmp_path / "alice"), build(tmp_path / "bob")
    yield alice, bob
    await alice.close()
    await bob.close()


async def login(
    browser: Any, server: TestServer, node: NodeApp, view: str, errors: list[str]
) -> Any:
    from playwright.async_api import expect

    page = await browser.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"http://127.0.0.1:{server.port}/dashboard#{view}")
    await page.fill("#token", node.token)
    await page.click("#login-button")
    await expect(page.locator(f"#{view}-view")).to_be_visible()
    await expect(page.locator("#dashboard")).to_be_hidden()
    return page


async def test_memory_and_pairing_views(nodes: tuple[NodeApp, NodeApp]) -> None:
    from playwright.async_api import async_playwright, expect

    chromium = need_chromium()
    alice, bob = nodes
    errors: list[str] = []
    async with (
        TestServer(alice.app) as sa,
        TestServer(bob.app) as sb,
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=chromium)
        try:
            page = await login(browser, sa, alice, "memory", errors)
            # write from the page; markup in the text, topic and tags stays text
            await page.fill("#memory-text", HOSTILE + " by the lake")
            await page.fill("#memory-topic", "<b>birds</b>")
            await page.fill("#memory-tags", "a, <i>b</i>")
            await page.click("#memory-write")
            await expect(page.locator("#memory-status")).to_contain_text("Saved")
            entry = await page.get_attribute("#memory-entry", "data-id")
            assert entry
            await expect(
                page.locator('#memory-spaces-list [data-space="default"]')
            ).to_contain_text("1 entry")
            # search it (the mode goes along), read it, delete it
            await page.fill("#memory-q", "heron")
            with_mode: list[str] = []
            page.on("request", lambda r: "/memory/search?" in r.url and with_mode.append(r.url))
            await page.select_option("#memory-mode", "keyword")
            await page.click("#memory-search")
            found = page.locator(f'[data-testid="memory-result"][data-id="{entry}"]')
            await expect(found).to_contain_text(HOSTILE)
            assert "mode=keyword" in with_mode[-1] and "q=heron" in with_mode[-1]
            await found.locator("button").click()
            await expect(page.locator("#memory-entry-text")).to_have_text(HOSTILE + " by the lake")
            await expect(page.locator("#memory-entry-fields")).to_contain_text("<b>birds</b>")
            await page.click("#memory-delete")
            await expect(page.locator("#memory-delete")).to_contain_text("again")
            await page.click("#memory-delete")
            await expect(page.locator("#memory-status")).to_contain_text("Deleted")
            await expect(found).to_have_count(0)
            assert await page.locator("#pwned, #memory-view b, #memory-view i").count() == 0

            # pairing: alice's invite (text and QR) pasted into bob's page adds her
            await page.click('[data-testid="nav-pairing"]')
            await expect(page.locator("#pairing-view")).to_be_visible()
            await page.fill("#invite-label", HOSTILE)
            await page.click("#invite-make")
            await expect(page.locator("#invite-made")).to_be_visible()
            invite = await page.input_value("#invite-text")
            assert invite.startswith("gw1:")
            qr = page.locator("#invite-qr")
            assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
            assert await qr.evaluate("img => img.complete && img.naturalWidth") > 100
            await expect(page.locator("#pairing-invites li")).to_contain_text([HOSTILE])
            other = await login(browser, sb, bob, "pairing", errors)
            await other.fill("#accept-invite", invite)
            await other.click("#accept-button")
            await expect(other.locator("#accept-result")).to_contain_text("Added alice")
            row = other.locator('[data-testid="pairing-contact"][data-nickname="alice"]')
            await expect(row).to_have_attribute("data-state", "pending")
            assert [c.nickname for c in bob.services.book.list()] == ["alice"]
            # the same invite again: the node's refusal shows as text
            await other.fill("#accept-invite", invite)
            await other.click("#accept-button")
            await expect(other.locator("#accept-error")).not_to_have_text("")
            # logging out hides every view
            await page.click("#logout")
            await expect(page.locator("#pairing-view")).to_be_hidden()
            await expect(page.locator("#views")).to_be_hidden()
            assert await page.locator("#pwned").count() == 0
        finally:
            await browser.close()
    assert errors == []
